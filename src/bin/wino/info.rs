//! `wino info`: the adapters wgpu sees, the one `Context::new` picks, its key limits, whether
//! it has the optional features the library uses, and the cooperative matrices it runs on.

use crate::{lib, Res};
use wgpu_winograd::{enumerate_adapters, Context};

pub fn run() -> Res<()> {
    let adapters = enumerate_adapters();
    println!("adapters:");
    if adapters.is_empty() {
        println!("  (none)");
    }
    for a in &adapters {
        println!("  {}", adapter_line(&a.get_info()));
    }
    let ctx = lib(Context::new())?;
    let chosen = ctx.adapter_info();
    println!("chosen by Context::new():\n  {}", adapter_line(chosen));
    let l = ctx.limits();
    println!("limits:");
    for (name, value) in [
        ("max_storage_buffer_binding_size", l.max_storage_buffer_binding_size),
        ("max_buffer_size", l.max_buffer_size),
        ("max_compute_workgroups_per_dimension", l.max_compute_workgroups_per_dimension.into()),
        ("max_compute_invocations_per_workgroup", l.max_compute_invocations_per_workgroup.into()),
        ("max_compute_workgroup_storage_size", l.max_compute_workgroup_storage_size.into()),
    ] {
        println!("  {name:<40} {value}");
    }
    // The device enables only what the library asks for; the adapter says what exists.
    let features =
        adapters.iter().find(|a| a.get_info() == *chosen).map_or_else(|| ctx.features(), |a| a.features());
    println!("features:");
    for (name, flag) in [
        ("SHADER_F16", wgpu::Features::SHADER_F16),
        ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
        ("SUBGROUP", wgpu::Features::SUBGROUP),
    ] {
        let state = match features.contains(flag) {
            false => "no".to_string(),
            true if flag == wgpu::Features::SUBGROUP => {
                format!("yes (size {}..{})", chosen.subgroup_min_size, chosen.subgroup_max_size)
            }
            true => "yes".to_string(),
        };
        println!("  {name:<40} {state}");
    }
    let storage = if ctx.packed_f16() {
        "packed in pairs into u32 words (unpack2x16float/pack2x16float; no SHADER_F16)"
    } else {
        "native (enable f16)"
    };
    println!("f16 activations: {storage}");
    // The tensor-core (cooperative matrix) fragments the library runs on this context
    // (`--precision high`), then every configuration the adapter reports.
    println!("cooperative matrices: {}", ctx.cooperative_matrices());
    let coop = adapters.iter().find(|a| a.get_info() == *chosen).map(|a| a.cooperative_matrix_properties());
    let coop: Vec<String> = coop
        .unwrap_or_default()
        .iter()
        .map(|p| {
            format!("M{}N{}K{} {:?}×{:?}→{:?}", p.m_size, p.n_size, p.k_size, p.ab_type, p.ab_type, p.cr_type)
        })
        .collect();
    println!(
        "cooperative matrix shapes the adapter reports: {}",
        if coop.is_empty() { "none".to_string() } else { coop.join(", ") }
    );
    Ok(())
}

fn adapter_line(i: &wgpu::AdapterInfo) -> String {
    format!("{} ({}, {:?}, driver: {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info)
}
