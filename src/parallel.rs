//! Data-parallel mini-batch training over threads (std feature).
