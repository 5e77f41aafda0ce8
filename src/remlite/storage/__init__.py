"""RocksDB storage: column families, order-preserving key codecs, remlite's change log."""
