//! The XDP program. In this stage it counts every frame per CPU and passes it to the kernel;
//! parsing, offloaded filters and the AF_XDP redirect are added on top of the same counters.
#![no_std]
#![no_main]

use aya_ebpf::bindings::xdp_action;
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::PerCpuArray;
use aya_ebpf::programs::XdpContext;
use capture_common::{XdpCounter, XdpCounters};

/// One `XdpCounters` per CPU; user space sums them.
#[map]
static COUNTERS: PerCpuArray<XdpCounters> = PerCpuArray::with_max_entries(1, 0);

#[xdp]
pub fn capture(ctx: XdpContext) -> u32 {
    let _ = ctx;
    if let Some(counters) = COUNTERS.get_ptr_mut(0) {
        // SAFETY: the pointer comes from the per-CPU map lookup for index 0, which exists
        // (max_entries 1); per-CPU storage means no other program instance writes it concurrently.
        let counters = unsafe { &mut *counters };
        counters.values[XdpCounter::Seen as usize] += 1;
        counters.values[XdpCounter::Passed as usize] += 1;
    }
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
