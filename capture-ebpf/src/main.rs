//! The XDP program: counts every frame per CPU and hands it to the AF_XDP socket bound to the
//! receive queue it arrived on. A frame whose queue has no socket takes the configured
//! non-matching action (drop on a mirror port, pass on a host that also uses the interface).
#![no_std]
#![no_main]

use aya_ebpf::bindings::xdp_action;
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::{Array, PerCpuArray, XskMap};
use aya_ebpf::programs::XdpContext;
use capture_common::{XdpConfig, XdpCounter, XdpCounters, MAX_QUEUES};

/// One `XdpCounters` per CPU; user space sums them.
#[map]
static COUNTERS: PerCpuArray<XdpCounters> = PerCpuArray::with_max_entries(1, 0);

/// The AF_XDP socket of each receive queue.
#[map]
static SOCKETS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

/// Settings written by user space before the program is attached.
#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);

#[inline(always)]
fn count(counter: XdpCounter) {
    if let Some(counters) = COUNTERS.get_ptr_mut(0) {
        // SAFETY: the pointer comes from the per-CPU map lookup for index 0, which exists
        // (max_entries 1); per-CPU storage means no other program instance writes it concurrently.
        let counters = unsafe { &mut *counters };
        counters.values[counter as usize] += 1;
    }
}

#[xdp]
pub fn capture(ctx: XdpContext) -> u32 {
    count(XdpCounter::Seen);
    let otherwise = match CONFIG.get(0) {
        Some(config) if config.pass_unmatched != 0 => xdp_action::XDP_PASS,
        _ => xdp_action::XDP_DROP,
    };
    // SAFETY: `ctx.ctx` is the xdp_md the kernel handed this program; reading a field of it is
    // what the verifier allows.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    match SOCKETS.redirect(queue, u64::from(otherwise)) {
        Ok(action) if action == xdp_action::XDP_REDIRECT => {
            count(XdpCounter::Redirected);
            action
        }
        Ok(action) | Err(action) => {
            count(XdpCounter::NoSocket);
            if action == xdp_action::XDP_PASS {
                count(XdpCounter::Passed);
            } else {
                count(XdpCounter::Dropped);
            }
            action
        }
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
