// The hello worker in Rust (wasm32-unknown-unknown, built by Debian's rustc with panic=abort),
// written directly against the guest ABI (docs/guest-abi.md) without an SDK.
//
//   /        a greeting naming the request target
//   /panic   a Rust panic: the panic hook passes the message to rewind.panic_message, then the
//            panic aborts (unreachable); rewind reports an abort of kind guest_abort with the
//            message and recovers the instance.

use std::sync::Once;

#[link(wasm_import_module = "rewind")]
extern "C" {
    fn request_target(buf: *mut u8, cap: usize) -> i32;
    fn response_header(name: *const u8, name_len: usize, value: *const u8, value_len: usize);
    fn response_body_write(data: *const u8, len: usize);
    fn panic_message(message: *const u8, len: usize);
}

static HOOK: Once = Once::new();

fn target() -> String {
    let mut buf = vec![0u8; 256];
    let mut len = unsafe { request_target(buf.as_mut_ptr(), buf.len()) } as usize;
    if len > buf.len() {
        buf.resize(len, 0);
        len = unsafe { request_target(buf.as_mut_ptr(), buf.len()) } as usize;
    }
    buf.truncate(len);
    String::from_utf8_lossy(&buf).into_owned()
}

fn write(text: &str) {
    unsafe { response_body_write(text.as_ptr(), text.len()) }
}

#[no_mangle]
pub extern "C" fn rewind_abi_version() -> i32 {
    1
}

#[no_mangle]
pub extern "C" fn rewind_handle() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            unsafe { panic_message(message.as_ptr(), message.len()) }
        }))
    });
    let target = target();
    if target == "/panic" {
        panic!("hello from a Rust panic");
    }
    let content_type = "text/plain; charset=utf-8";
    let name = "content-type";
    unsafe { response_header(name.as_ptr(), name.len(), content_type.as_ptr(), content_type.len()) }
    write(&format!("Hello from Rust on rewind! You asked for {}\n", target));
}
