"""RocksDB storage: column families, order-preserving key codecs, remdb's change log."""
