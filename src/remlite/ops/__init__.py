"""Operations on whole databases: backup and restore, space (stats, compact, purge), and the
state digest that replication, backup and their tests compare databases by."""
