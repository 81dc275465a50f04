package docker

import (
	"fmt"
	"net"
	"strings"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"

	"devstack/engine/model"
)

// refs is what a container's spec needs from the engine besides the
// service: the service: references of network_mode, ipc, pid,
// volumes_from and links resolved to containers (resolveRefs), the API
// version the engine speaks and the path of its socket on its own host.
// Pure tests fill it by hand.
type refs struct {
	networkMode string   // network_mode, service:NAME made container:ID
	ipc, pid    string   // likewise
	volumesFrom []string // container[:ro|:rw]
	sharers     []string // the containers of volumesFrom, without the mode
	links       []string // container:alias, links and external_links
	apiVersion  string   // negotiated; "" is taken as the newest
	socket      string   // the engine's socket on its host (use_api_socket)
	// ids are the containers the references resolved to (service ->
	// container ID), with which the config hash is finished.
	ids map[string]string
}

// apiAtLeast compares the engine's API version with min ("1.45").
func (r refs) apiAtLeast(min string) bool {
	if r.apiVersion == "" {
		return true
	}
	return versionAtLeast(r.apiVersion, min)
}

// versionAtLeast compares dotted API versions numerically.
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			fmt.Sscan(a[i], &x)
		}
		if i < len(b) {
			fmt.Sscan(b[i], &y)
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// tooOld is the error for a field the engine's API cannot carry: an older
// engine would silently drop it, which is worse than saying so.
func (r refs) tooOld(field, min string) error {
	return fmt.Errorf("%s needs Docker Engine API %s or newer, and this engine speaks %s: remove it or upgrade the engine", field, min, r.apiVersion)
}

// mapEngineFields maps the namespaces, links, DNS, runtime, resources,
// devices and the engine socket onto the host configuration, as Compose
// does (pkg/compose/create.go).
func mapEngineFields(svc *model.Service, rf refs, host *container.HostConfig) error {
	host.IpcMode = container.IpcMode(rf.ipc)
	host.PidMode = container.PidMode(rf.pid)
	switch svc.Uts {
	case "", "host":
		host.UTSMode = container.UTSMode(svc.Uts)
	default:
		return fmt.Errorf("uts %q: the Docker engine shares only the host's UTS namespace (uts: host), not another container's", svc.Uts)
	}
	host.VolumesFrom = rf.volumesFrom
	host.Links = rf.links
	host.GroupAdd = svc.GroupAdd
	host.DNSSearch = svc.DNSSearch
	host.DNSOptions = svc.DNSOpts
	host.Runtime = svc.Runtime
	if len(svc.Annotations) > 0 {
		if !rf.apiAtLeast("1.43") {
			return rf.tooOld("annotations", "1.43")
		}
		host.Annotations = svc.Annotations
	}
	host.OomScoreAdj = int(svc.OomScoreAdj)

	res := &host.Resources
	res.CPUShares = svc.CPUShares
	res.CPUQuota = svc.CPUQuota
	res.CPUPeriod = svc.CPUPeriod
	res.CpusetCpus = svc.CPUSet
	res.CPURealtimePeriod = svc.CPURTPeriod
	res.CPURealtimeRuntime = svc.CPURTRuntime
	res.MemorySwappiness = svc.MemSwappiness
	res.MemoryReservation = svc.MemReservation
	res.MemorySwap = svc.MemSwapLimit
	if svc.OomKillDisable {
		disable := true
		res.OomKillDisable = &disable
	}
	if b := svc.Blkio; b != nil {
		res.BlkioWeight = b.Weight
		for _, w := range b.WeightDevice {
			res.BlkioWeightDevice = append(res.BlkioWeightDevice, &blkiodev.WeightDevice{Path: w.Path, Weight: w.Weight})
		}
		throttle := func(in []model.ThrottleDevice) []*blkiodev.ThrottleDevice {
			var out []*blkiodev.ThrottleDevice
			for _, t := range in {
				out = append(out, &blkiodev.ThrottleDevice{Path: t.Path, Rate: t.Rate})
			}
			return out
		}
		res.BlkioDeviceReadBps = throttle(b.DeviceReadBps)
		res.BlkioDeviceReadIOps = throttle(b.DeviceReadIOps)
		res.BlkioDeviceWriteBps = throttle(b.DeviceWriteBps)
		res.BlkioDeviceWriteIOps = throttle(b.DeviceWriteIOps)
	}
	res.DeviceCgroupRules = svc.DeviceCgroupRules
	var cdi []string
	for _, d := range svc.Devices {
		if d.Source == d.Target && cdiName(d.Source) {
			cdi = append(cdi, d.Source) // a CDI device: the cdi driver resolves it
			continue
		}
		res.Devices = append(res.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: d.Permissions})
	}
	if len(cdi) > 0 {
		res.DeviceRequests = append(res.DeviceRequests, container.DeviceRequest{Driver: "cdi", DeviceIDs: cdi})
	}
	for _, d := range svc.DeviceRequests {
		req := container.DeviceRequest{Driver: d.Driver, Count: int(d.Count), DeviceIDs: d.IDs, Options: d.Options}
		if len(d.Capabilities) > 0 {
			req.Capabilities = [][]string{d.Capabilities}
		}
		res.DeviceRequests = append(res.DeviceRequests, req)
	}
	if svc.UseAPISocket {
		// The engine's own socket, on the engine's host: for a remote
		// engine that is the remote machine's socket, not this one's.
		// The loader has added Compose's bind of /var/run/docker.sock;
		// an engine listening elsewhere has its own path mounted there.
		const sock = "/var/run/docker.sock"
		found := false
		for i, b := range host.Binds {
			if src, rest, _ := strings.Cut(b, ":"); strings.HasPrefix(rest, sock) {
				found = true
				if src == sock && rf.socket != "" {
					host.Binds[i] = rf.socket + ":" + rest
				}
			}
		}
		if !found && rf.socket != "" {
			host.Binds = append(host.Binds, rf.socket+":"+sock)
		}
	}
	return nil
}

// cdiName tells a CDI device name (vendor.com/class=name) from a path.
func cdiName(s string) bool {
	kind, name, ok := strings.Cut(s, "=")
	vendor, class, ok2 := strings.Cut(kind, "/")
	return ok && ok2 && name != "" && class != "" && strings.Contains(vendor, ".") && !strings.HasPrefix(s, "/")
}

// mainMac is the container-wide MAC address an engine older than API
// 1.44 takes (in the create request's Config): the service's mac_address
// or that of its main network, which must agree, as Compose requires.
// Newer engines take it per network instead (endpointMac).
func mainMac(svc *model.Service, mainNet string, rf refs) (string, error) {
	mac := svc.MacAddress
	if n, ok := svc.Networks[mainNet]; ok && n.MacAddress != "" {
		if mac != "" && mac != n.MacAddress {
			return "", fmt.Errorf("mac_address %s differs from that of network %s (%s): give one", mac, mainNet, n.MacAddress)
		}
		mac = n.MacAddress
	}
	if mac != "" {
		if _, err := net.ParseMAC(mac); err != nil {
			return "", fmt.Errorf("mac_address %q is not a MAC address", mac)
		}
	}
	if rf.apiAtLeast("1.44") {
		return "", nil
	}
	for name, n := range svc.Networks {
		if name != mainNet && n.MacAddress != "" {
			return "", fmt.Errorf("network %s: a MAC address on a network other than the main one (%s) needs Docker Engine API 1.44 or newer, and this engine speaks %s", name, mainNet, rf.apiVersion)
		}
	}
	return mac, nil
}
