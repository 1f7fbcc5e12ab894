//! PLACEHOLDER: the mock slack receiver (a helper session builds it).
