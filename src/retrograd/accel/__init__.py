"""Every speed trick of retrograd in one place: C kernels and their ctypes bindings, work-array pools, helper threads, the replay compiler."""
