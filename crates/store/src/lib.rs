//! The store contract and its backends. Filled in by the store work.
