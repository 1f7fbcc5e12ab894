//! PLACEHOLDER: the mock webhook receiver (a helper session builds it).
