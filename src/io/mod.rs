//! Saving and loading trained networks (safetensors) and weights compiled
//! into the binary.
