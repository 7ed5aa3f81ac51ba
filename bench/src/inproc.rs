//! Measurements inside one host process, through the `apiconn` library:
//! instantiation from the pre-linked component, and many instances at once.

use crate::measure::own_rss_kib;
use apiconn::run::{self, Options};
use apiconn::runtime::{Limits, Runtime};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

fn options() -> Options {
    Options {
        allow_private: true,
        ..Options::default()
    }
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Instantiation {
    pub count: usize,
    pub median_us: f64,
    pub mean_us: f64,
}

/// Times `count` instantiations from the runtime's `InstancePre` (each
/// instance dropped before the next).
pub async fn instantiate(count: usize) -> anyhow::Result<Instantiation> {
    let rt = Runtime::new()?;
    let egress = || apiconn::egress::Egress::closed().expect("a closed egress policy");
    // The first one pays for lazily built engine state.
    drop(rt.instance(egress(), &Limits::default()).await?);
    let mut times = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let e = egress();
        let started = Instant::now();
        let instance = rt.instance(e, &Limits::default()).await?;
        times.push(started.elapsed());
        drop(instance);
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    Ok(Instantiation {
        count: times.len(),
        median_us: times[times.len() / 2].as_secs_f64() * 1e6,
        mean_us: mean.as_secs_f64() * 1e6,
    })
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Density {
    pub instances: usize,
    pub records: u64,
    /// Seconds from the moment every instance had its reader open until the last was done.
    pub seconds: f64,
    /// RSS with the runtime loaded and no instance alive.
    pub base_rss_kib: u64,
    /// RSS with every instance alive and its reader open, before any page.
    pub idle_rss_kib: u64,
    /// The process's peak RSS.
    pub peak_rss_kib: u64,
}

/// `instances` sandboxed instances of `config` in this process, all alive
/// at once, each reading the whole of its source.
pub async fn density(config: serde_json::Value, instances: usize) -> anyhow::Result<Density> {
    let opts = Arc::new(options());
    let rt = Arc::new(Runtime::new()?);
    let prepared = Arc::new(run::prepare(config, &opts.secrets)?);
    drop(run::sandboxed(&rt, &prepared, &opts).await?);
    let (base_rss_kib, _) = own_rss_kib();

    let opened = Arc::new(Barrier::new(instances + 1));
    let go = Arc::new(Barrier::new(instances + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..instances {
        let (rt, prepared, opts) = (rt.clone(), prepared.clone(), opts.clone());
        let (opened, go) = (opened.clone(), go.clone());
        tasks.spawn(async move {
            let fail = |e: run::Failure| anyhow::anyhow!("{e}");
            let opening = async {
                let mut instance = run::sandboxed(&rt, &prepared, &opts).await?;
                let reader = instance
                    .open_reader(&prepared.json, None, None, None)
                    .await
                    .map_err(|e| run::Failure::Run(e.to_string()))?;
                Ok::<_, run::Failure>((instance, reader))
            };
            let opening = opening.await;
            // Wait at the barriers even after a failure, so the others go on.
            opened.wait().await;
            go.wait().await;
            let (mut instance, reader) = opening.map_err(fail)?;
            let mut records = 0u64;
            while let Some(batch) = instance
                .next_batch(reader)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                records += u64::from(batch.count);
            }
            anyhow::Ok(records)
        });
    }
    opened.wait().await;
    let (idle_rss_kib, _) = own_rss_kib();
    let started = Instant::now();
    go.wait().await;
    let mut records = 0;
    while let Some(done) = tasks.join_next().await {
        records += done??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (_, peak_rss_kib) = own_rss_kib();
    Ok(Density {
        instances,
        records,
        seconds,
        base_rss_kib,
        idle_rss_kib,
        peak_rss_kib,
    })
}
