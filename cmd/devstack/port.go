package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"devstack/engine"
)

func newPortCmd(g *globals) *cobra.Command {
	var (
		protocol string
		index    int
	)
	cmd := &cobra.Command{
		Use:   "port SERVICE PRIVATE_PORT",
		Short: "Print where a container port is published: the local address when forwarded from a remote engine, else the engine's",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := args[0]
			target, err := strconv.ParseUint(args[1], 10, 16)
			if err != nil || target == 0 {
				return fmt.Errorf("port %q: give the container's port as a number, e.g. `devstack port %s 80`", args[1], service)
			}
			protocol = strings.ToLower(protocol)
			if protocol != "tcp" && protocol != "udp" {
				return fmt.Errorf("--protocol %q: use tcp or udp", protocol)
			}
			if index < 1 {
				return fmt.Errorf("--index %d: replicas are numbered from 1", index)
			}
			p, rt, err := g.existing(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			cs, err := engine.New(rt, nil).Containers(cmd.Context(), p, []string{service}, false)
			if err != nil {
				return err
			}
			fwd := forwardsOf(rt.Host(), p.Name)
			for _, c := range cs {
				if c.Number != index || c.OneOff {
					continue
				}
				for _, pp := range c.Ports {
					if uint64(pp.Target) != target || pp.Protocol != protocol || pp.HostPort == 0 {
						continue
					}
					if f, ok := fwd.of(c, engine.FormatPort(pp)); ok && f.Local != "" {
						fmt.Fprintln(g.stdout, f.Local)
						return nil
					}
					ip := pp.HostIP
					if ip == "" {
						ip = "0.0.0.0"
					}
					fmt.Fprintln(g.stdout, net.JoinHostPort(ip, strconv.Itoa(int(pp.HostPort))))
					return nil
				}
				return fmt.Errorf("service %s (%s) does not publish %d/%s: add it to the service's ports", service, c.Name, target, protocol)
			}
			return fmt.Errorf("service %s has no running container with index %d: start it (devstack up -d %s)", service, index, service)
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 1, "the replica, when the service has several")
	return cmd
}
