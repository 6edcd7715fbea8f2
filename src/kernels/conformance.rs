//! Conformance: every entry point on every backend this CPU runs, against
//! reference loops (written by the conformance pass).
