//! PLACEHOLDER: the mock smtp receiver (a helper session builds it).
