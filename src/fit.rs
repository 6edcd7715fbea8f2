//! The training loop (std feature): epochs, progress, validation, history.
