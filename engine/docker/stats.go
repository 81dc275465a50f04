package docker

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Stats streams CPU and memory samples (about one a second) until ctx
// ends or the container goes away, computed as `docker stats` does.
func (r *Runtime) Stats(ctx context.Context, id string, fn func(cpuPercent float64, mem, limit uint64)) error {
	res, err := r.api.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return r.engineError(err)
	}
	defer res.Body.Close()
	stop := context.AfterFunc(ctx, func() { res.Body.Close() })
	defer stop()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		cpu, mem, limit := statsSample(&s)
		fn(cpu, mem, limit)
	}
}

// statsSample computes what `docker stats` shows: the container's share
// of the host's CPU time since the previous sample, times the number of
// CPUs (so 200% is two busy CPUs), and memory without the page cache
// the kernel can drop (inactive_file on cgroup v2, total_inactive_file
// on v1).
func statsSample(s *container.StatsResponse) (cpu float64, mem, limit uint64) {
	// The first sample has no previous one to compare with.
	if s.PreCPUStats.SystemUsage > 0 {
		cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
		sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
		if cpuDelta > 0 && sysDelta > 0 {
			n := float64(s.CPUStats.OnlineCPUs)
			if n == 0 {
				n = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
			}
			cpu = cpuDelta / sysDelta * n * 100
		}
	}
	mem = s.MemoryStats.Usage
	if v, ok := s.MemoryStats.Stats["total_inactive_file"]; ok && v < mem {
		mem -= v
	} else if v, ok := s.MemoryStats.Stats["inactive_file"]; ok && v < mem {
		mem -= v
	}
	return cpu, mem, s.MemoryStats.Limit
}
