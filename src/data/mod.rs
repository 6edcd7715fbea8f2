//! Data loading and preprocessing (std feature): IDX (MNIST, Fashion-MNIST)
//! and CIFAR-10 readers, dataset location, preprocessing.
