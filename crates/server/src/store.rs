//! The storage traits the authorization server needs; ostiary-store implements them.
