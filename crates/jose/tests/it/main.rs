//! Integration tests of ostiary-jose: one binary (see research/aesthetics.md), a module per concern.

#![allow(clippy::unwrap_used)]

mod attacks;
mod interop;
mod keys;
mod properties;
mod rfc;
mod roundtrip;
mod support;
mod vectors;
