package cmd

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/cgroup"
	"bufferzone.dev/runsc/config"
)

// sandboxCgroup returns the cgroup a new container's sandbox goes in, not
// yet created, or nil for none: with --ignore-cgroups, and for a caller
// that is not root and asks for no limits (a rootless container uses its
// caller's cgroup, as runc's does). The spec's resources and cgroupsPath
// are checked here, before anything exists. detect is cgroup.Detect, or a
// call of it already under way (see createContainer).
func sandboxCgroup(conf *config.Config, id string, spec *specs.Spec, detect func() (*cgroup.Mounts, error)) (*cgroup.Cgroup, error) {
	if conf.IgnoreCgroups {
		return nil, nil
	}
	var res *specs.LinuxResources
	path := ""
	if spec.Linux != nil {
		res, path = spec.Linux.Resources, spec.Linux.CgroupsPath
	}
	if err := cgroup.Validate(res); err != nil {
		return nil, err
	}
	p, err := cgroup.Path(path, conf.SystemdCgroup, id)
	if err != nil {
		return nil, fmt.Errorf("linux.%w", err)
	}
	if os.Geteuid() != 0 && !hasLimits(res) {
		return nil, nil
	}
	m, err := detect()
	if err != nil {
		return nil, err
	}
	return m.New(p)
}

// hasLimits says whether r sets any limit a cgroup would apply (device
// rules are not cgroup limits for runsc: see package cgroup).
func hasLimits(r *specs.LinuxResources) bool {
	if r == nil {
		return false
	}
	return r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil ||
		len(r.HugepageLimits) > 0 || len(r.Unified) > 0
}
