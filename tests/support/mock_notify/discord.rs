//! PLACEHOLDER: the mock discord receiver (a helper session builds it).
