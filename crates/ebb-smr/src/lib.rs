//! Safe memory reclamation (being built).
