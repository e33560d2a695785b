//! A Rust guest built with Debian's rustc as a wasm32-unknown-unknown cdylib with panic=abort.
//! A panic cannot unwind: it ends in `unreachable` (an abort in rewind). The panic hook first
//! passes the panic message to the host through env.panic_message(ptr, len), so the host can
//! report it. See tests/guests/README.md.
use std::panic;
use std::sync::Once;

#[link(wasm_import_module = "env")]
extern "C" {
    #[link_name = "panic_message"]
    fn host_panic_message(ptr: *const u8, len: usize);
}

static HOOK: Once = Once::new();
static mut CALLS: i32 = 0;

fn install_panic_hook() {
    HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message: &str = if let Some(text) = payload.downcast_ref::<&str>() {
                text
            } else if let Some(text) = payload.downcast_ref::<String>() {
                text.as_str()
            } else {
                "Box<dyn Any>"
            };
            unsafe { host_panic_message(message.as_ptr(), message.len()) };
        }));
    });
}

/// Returns a + b; counts calls.
#[no_mangle]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    install_panic_hook();
    unsafe { CALLS += 1 };
    a.wrapping_add(b)
}

/// Number of calls to add and panic_now so far.
#[no_mangle]
pub extern "C" fn calls() -> i32 {
    unsafe { CALLS }
}

/// Panics with "guest panicked: code <code>": the host receives that text through
/// env.panic_message, then the call aborts with `unreachable`.
#[no_mangle]
pub extern "C" fn panic_now(code: i32) -> i32 {
    install_panic_hook();
    unsafe { CALLS += 1 };
    if code >= 0 {
        panic!("guest panicked: code {}", code);
    }
    code
}

/// Indexes a slice out of bounds: a panic from the standard library (bounds check), with the
/// standard message "index out of bounds: the len is 3 but the index is <index>".
#[no_mangle]
pub extern "C" fn index_out_of_bounds(index: i32) -> i32 {
    install_panic_hook();
    let values = [1, 2, 3];
    values[index as usize]
}
