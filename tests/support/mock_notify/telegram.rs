//! PLACEHOLDER: the mock telegram receiver (a helper session builds it).
