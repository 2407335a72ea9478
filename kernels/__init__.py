"""Compute kernels for imgrestore: Numba CPU and CUDA GPU twins, imported lazily by their users."""
