import CShim
import Common

extension Scoreboard {
    /// `GET /status`: php-fpm's status page fields, as JSON, for the whole pool.
    public func statusJSON() -> [UInt8] {
        let now = Clock.wallSeconds()
        let live = slots.filter { $0.state != .free }
        let totalThreads = live.filter { $0.state == .ready }.reduce(0) { $0 + $1.threads }
        let busy = Int(Int64(bitPattern: get(.busy)))
        var json = JSONWriter(capacity: 2048)
        json.beginObject()
        json.key("pool")
        json.beginObject()
        json.field("start_time", Timestamp(epochSeconds: Int64(get(.startTime))))
        json.field("start_since", Int(now) - Int(get(.startTime)))
        json.field("master_pid", Int(get(.masterPID)))
        json.field("generation", Int(get(.generation)))
        json.field("workers_configured", Int(get(.workersConfigured)))
        json.field("accepted_requests", Int(get(.accepted)))
        json.field("active_threads", max(0, busy))
        json.field("idle_threads", max(0, totalThreads - busy))
        json.field("total_threads", totalThreads)
        json.field("max_active_threads", Int(get(.maxBusy)))
        json.field("reloads", Int(get(.reloads)))
        json.field("reloads_failed", Int(get(.reloadsFailed)))
        json.field("last_reload", ["none", "ok", "failed"][Int(min(get(.lastReload), 2))])
        json.key("restarts")
        json.beginObject()
        json.field("crash", Int(get(.restartsCrash)))
        json.field("recycle", Int(get(.restartsRecycle)))
        json.field("timeout", Int(get(.restartsTimeout)))
        json.endObject()
        json.field("database_errors", Int(get(.databaseErrors)))
        json.field("prefetch_round_trips", Int(get(.prefetchRoundTrips)))
        json.field("prefetched_statements", Int(get(.prefetchedStatements)))
        json.endObject()
        json.key("workers")
        json.beginArray()
        let nowMillis = CShim_wallMillis()
        for slot in live {
            json.beginObject()
            json.field("pid", Int(slot.pid))
            json.field("generation", slot.generation)
            json.field("state", slot.state.name)
            json.field("requests", Int(slot.requests))
            json.field("threads", slot.threads)
            json.field("started_at", Timestamp(epochSeconds: slot.startedAt))
            json.key("current_requests")
            json.beginArray()
            for request in slot.current {
                json.beginObject()
                json.field("request_id", request.requestID)
                json.field("method", request.method)
                json.field("path", request.path)
                json.field("duration_ms", Int(nowMillis - request.startedMillis))
                json.endObject()
            }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// `GET /metrics`: Prometheus text format, pool-wide; counters never reset when a
    /// worker is recycled because they live in the scoreboard, not in a process.
    public func metricsText(routeLabels: [String]) -> String {
        var out = ""
        func line(_ text: String) { out += text + "\n" }
        line("# HELP billing_requests_total Requests answered, by route and status class.")
        line("# TYPE billing_requests_total counter")
        for (route, label) in routeLabels.enumerated() where route < Self.maxRoutes {
            for statusClass in 0..<5 {
                let count = requestCount(route: route, statusClass: statusClass)
                guard count > 0 else { continue }
                line("billing_requests_total{route=\"\(label)\",status=\"\(statusClass + 1)xx\"} \(count)")
            }
        }
        let histogram = self.histogram
        line("# HELP billing_request_duration_seconds Time to answer a request in a worker.")
        line("# TYPE billing_request_duration_seconds histogram")
        var cumulative: UInt64 = 0
        for (index, bound) in Self.bucketBounds.enumerated() {
            cumulative += histogram.buckets[index]
            line("billing_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)")
        }
        line(
            "billing_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative + histogram.buckets[Self.bucketBounds.count])"
        )
        line("billing_request_duration_seconds_sum \(histogram.sumSeconds)")
        line("billing_request_duration_seconds_count \(histogram.count)")
        let live = slots.filter { $0.state == .ready }
        let total = live.reduce(0) { $0 + $1.threads }
        let busy = max(0, Int(Int64(bitPattern: get(.busy))))
        line("# HELP billing_threads Worker threads by state.")
        line("# TYPE billing_threads gauge")
        line("billing_threads{state=\"busy\"} \(busy)")
        line("billing_threads{state=\"idle\"} \(max(0, total - busy))")
        line("# HELP billing_workers Worker processes serving.")
        line("# TYPE billing_workers gauge")
        line("billing_workers \(live.count)")
        line("# HELP billing_worker_restarts_total Workers replaced, by cause.")
        line("# TYPE billing_worker_restarts_total counter")
        line("billing_worker_restarts_total{cause=\"crash\"} \(get(.restartsCrash))")
        line("billing_worker_restarts_total{cause=\"recycle\"} \(get(.restartsRecycle))")
        line("billing_worker_restarts_total{cause=\"timeout\"} \(get(.restartsTimeout))")
        line("# HELP billing_reloads_total Reloads, by result.")
        line("# TYPE billing_reloads_total counter")
        line("billing_reloads_total{result=\"ok\"} \(get(.reloads))")
        line("billing_reloads_total{result=\"failed\"} \(get(.reloadsFailed))")
        line("# HELP billing_database_errors_total Requests that met a database failure.")
        line("# TYPE billing_database_errors_total counter")
        line("billing_database_errors_total \(get(.databaseErrors))")
        line("# HELP billing_prefetch_round_trips_total Round trips that carried the first statements of several GETs.")
        line("# TYPE billing_prefetch_round_trips_total counter")
        line("billing_prefetch_round_trips_total \(get(.prefetchRoundTrips))")
        line("# HELP billing_prefetched_statements_total GET statements sent in those round trips.")
        line("# TYPE billing_prefetched_statements_total counter")
        line("billing_prefetched_statements_total \(get(.prefetchedStatements))")
        line("# HELP billing_generation The generation of workers serving.")
        line("# TYPE billing_generation gauge")
        line("billing_generation \(get(.generation))")
        return out
    }

    /// The reload counters, for `billing reload` to see how its SIGHUP ended.
    public var reloadCounts: (ok: UInt64, failed: UInt64, generation: UInt64) {
        (get(.reloads), get(.reloadsFailed), get(.generation))
    }
}
