# The exception tag that clang uses for every C++ throw (and for __builtin_wasm_throw(0, ...)).
# It has to be defined exactly once per module; the compiler only references it. Its single i32
# parameter is the payload: for exceptions thrown by this runtime, the address of the
# __cxa_exception header (see sdk/README.md).
	.globl	__cpp_exception
	.tagtype	__cpp_exception i32
__cpp_exception:
