//! x86-64 SIMD paths, chosen at run time with `is_x86_feature_detected!`.

pub mod avx2;
pub mod avx512;
pub(crate) mod kernels;
pub mod shani;
