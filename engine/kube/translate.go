package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"devstack/engine/model"
)

// Labels and annotations on every object devstack makes. The project and
// service keys are Compose's own (a cluster user's tooling sees the same
// names as `docker compose ps`), plus the app.kubernetes.io ones kubectl
// users filter by. The config hash is an annotation: a sha256 is longer
// than a label value may be.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelName       = "app.kubernetes.io/name"
	LabelInstance   = "app.kubernetes.io/instance"
	LabelPartOf     = "app.kubernetes.io/part-of"
	ManagedBy       = "devstack"
	AnnotationHash  = model.LabelConfigHash
	AnnotationPorts = "dev.devstack.ports" // published ports, as ps shows them
	// AnnotationCreated marks a namespace devstack created (down removes it).
	AnnotationCreated = "dev.devstack.created"
	// annotationInputs carries the hash of the configs and secrets a pod
	// mounts, so an edit of one rolls exactly the Deployments that use it.
	annotationInputs = "dev.devstack.inputs-hash"
	containerName    = "main"
)

// Target is what the translation needs besides the project: where it
// goes and what was found out about the cluster and the images.
type Target struct {
	Namespace string
	// Images maps a service to the image reference its pods run (a
	// pushed image by digest); services not in it run svc.Image.
	Images map[string]string
	// StorageClass says the cluster has a default storage class: named
	// volumes become claims; without one they are emptyDirs (warned).
	StorageClass bool
	// Hosts maps service names and aliases to Service IPs, written into
	// every pod's /etc/hosts when the cluster has no DNS; nil otherwise.
	Hosts map[string]string
	// Synced are the container paths, per service, that live sync fills:
	// a bind mount there becomes an emptyDir instead of a warning.
	Synced map[string][]string
	// Env looks up variables a service passes without a value; nil: os.LookupEnv.
	Env func(string) (string, bool)
}

// Manifest is the set of objects a project becomes, in the order they
// are applied (claims, configs and secrets before the pods that use them).
type Manifest struct {
	Claims      []*corev1.PersistentVolumeClaim
	ConfigMaps  []*corev1.ConfigMap
	Secrets     []*corev1.Secret
	Services    []*corev1.Service
	Deployments []*appsv1.Deployment
	Warnings    []model.Warning
}

var dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// Name turns a compose name into an object name, or says why it cannot.
func objectName(kind, name string) (string, error) {
	n := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(name, "_", "-"), ".", "-"))
	if len(n) > 63 || !dnsLabel.MatchString(n) {
		return "", fmt.Errorf("%s %q cannot name a Kubernetes object (lower-case letters, digits and '-', starting with a letter, at most 63): rename it", kind, name)
	}
	return n, nil
}

// ServiceLabels are the labels of a service's objects; the selector is
// the first two.
func ServiceLabels(project, service string) map[string]string {
	return map[string]string{
		model.LabelProject: project,
		model.LabelService: service,
		LabelManagedBy:     ManagedBy,
		LabelName:          service,
		LabelInstance:      project,
		LabelPartOf:        project,
	}
}

// ProjectLabels are the labels of project-level objects (claims, configs, secrets).
func ProjectLabels(project string) map[string]string {
	return map[string]string{model.LabelProject: project, LabelManagedBy: ManagedBy, LabelPartOf: project, LabelInstance: project}
}

// ProjectSelector selects every object devstack made for a project.
func ProjectSelector(project string) string {
	return model.LabelProject + "=" + project + "," + LabelManagedBy + "=" + ManagedBy
}

func selector(project, service string) map[string]string {
	return map[string]string{model.LabelProject: project, model.LabelService: service}
}

func meta(name, ns string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: map[string]string{}}
}

// Hash is the config hash of an object: its JSON without the hash itself.
func Hash(obj any) string {
	b, _ := json.Marshal(obj)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func stamp(m *metav1.ObjectMeta, obj any) {
	delete(m.Annotations, AnnotationHash)
	m.Annotations[AnnotationHash] = Hash(obj)
}

// Translate turns a project into Kubernetes objects. It is pure: the
// cluster facts it needs come in t. Fields without a Kubernetes meaning
// become warnings naming service and field; a name that cannot be an
// object name is an error (nothing is applied).
func Translate(p *model.Project, t Target) (*Manifest, error) {
	m := &Manifest{}
	warn := func(svc, field, msg string) {
		m.Warnings = append(m.Warnings, model.Warning{Service: svc, Field: field, Message: msg})
	}
	env := t.Env
	if env == nil {
		env = os.LookupEnv
	}
	ns := t.Namespace

	// Claims for the named volumes services use.
	claimOf := map[string]string{}
	var volNames []string
	for k := range p.Volumes {
		volNames = append(volNames, k)
	}
	sort.Strings(volNames)
	for _, k := range volNames {
		v := p.Volumes[k]
		name, err := objectName("volume", k)
		if err != nil {
			return nil, err
		}
		if v.External {
			claimOf[k] = name // an existing claim of that name
			continue
		}
		if v.Driver != "" && v.Driver != "local" {
			warn("", "volumes."+k+".driver", "volume drivers have no meaning on a cluster: a claim of the default storage class is used")
		}
		claimOf[k] = name
		if !t.StorageClass {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: meta(name, ns, ProjectLabels(p.Name)),
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: resource.MustParse("1Gi"),
				}},
			},
		}
		pvc.Labels[model.LabelVolume] = k
		stamp(&pvc.ObjectMeta, pvc)
		m.Claims = append(m.Claims, pvc)
	}

	// Configs and secrets: one object each, its content under "content".
	inputHash := map[string]string{}
	fileObjects := func(kind string, objs map[string]model.FileObject) error {
		var keys []string
		for k := range objs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o := objs[k]
			base, err := objectName(kind, k)
			if err != nil {
				return err
			}
			name := kind + "-" + base
			if o.External {
				continue
			}
			content, err := fileContent(kind, k, o, env)
			if err != nil {
				return err
			}
			labels := ProjectLabels(p.Name)
			if kind == "config" {
				cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
					ObjectMeta: meta(name, ns, labels), BinaryData: map[string][]byte{"content": content}}
				stamp(&cm.ObjectMeta, cm)
				inputHash[kind+"/"+k] = cm.Annotations[AnnotationHash]
				m.ConfigMaps = append(m.ConfigMaps, cm)
			} else {
				s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
					ObjectMeta: meta(name, ns, labels), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"content": content}}
				stamp(&s.ObjectMeta, s)
				inputHash[kind+"/"+k] = s.Annotations[AnnotationHash]
				m.Secrets = append(m.Secrets, s)
			}
		}
		return nil
	}
	if err := fileObjects("config", p.Configs); err != nil {
		return nil, err
	}
	if err := fileObjects("secret", p.Secrets); err != nil {
		return nil, err
	}

	for i := range p.Services {
		svc := &p.Services[i]
		if _, err := objectName("service", svc.Name); err != nil {
			return nil, err
		}
		d, services, err := translateService(p, svc, t, claimOf, inputHash, warn, env)
		if err != nil {
			return nil, err
		}
		m.Deployments = append(m.Deployments, d)
		m.Services = append(m.Services, services...)
	}
	return m, nil
}

func fileContent(kind, name string, o model.FileObject, env func(string) (string, bool)) ([]byte, error) {
	switch {
	case o.Content != "":
		return []byte(o.Content), nil
	case o.Environment != "":
		v, ok := env(o.Environment)
		if !ok {
			return nil, fmt.Errorf("%s %s: variable %s is not set: set it, or give the %s a file", kind, name, o.Environment, kind)
		}
		return []byte(v), nil
	case o.File != "":
		b, err := os.ReadFile(o.File)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s %s has no file, content or environment", kind, name)
}

func seconds(d time.Duration, min int32) int32 {
	s := int32((d + time.Second - 1) / time.Second)
	if s < min {
		return min
	}
	return s
}

func translateService(p *model.Project, svc *model.Service, t Target, claimOf, inputHash map[string]string,
	warn func(svc, field, msg string), env func(string) (string, bool)) (*appsv1.Deployment, []*corev1.Service, error) {
	ns := t.Namespace
	name, _ := objectName("service", svc.Name)
	labels := ServiceLabels(p.Name, svc.Name)
	image := svc.Image
	if ref, ok := t.Images[svc.Name]; ok {
		image = ref
	}
	c := corev1.Container{
		Name:       containerName,
		Image:      image,
		Command:    svc.Entrypoint,
		Args:       svc.Command,
		WorkingDir: svc.WorkingDir,
		TTY:        svc.Tty,
		Stdin:      svc.StdinOpen,
	}
	switch svc.PullPolicy {
	case "always":
		c.ImagePullPolicy = corev1.PullAlways
	case "never":
		c.ImagePullPolicy = corev1.PullNever
	case "", "missing", "if_not_present", "build":
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	var envNames []string
	for k := range svc.Environment {
		envNames = append(envNames, k)
	}
	sort.Strings(envNames)
	for _, k := range envNames {
		v := svc.Environment[k]
		if v == nil {
			s, ok := env(k)
			if !ok {
				continue
			}
			v = &s
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: *v})
	}

	sc := &corev1.SecurityContext{}
	if svc.User != "" {
		uid, gid, _ := strings.Cut(svc.User, ":")
		if n, err := strconv.ParseInt(uid, 10, 64); err == nil {
			sc.RunAsUser = &n
			if g, err := strconv.ParseInt(gid, 10, 64); err == nil {
				sc.RunAsGroup = &g
			}
		} else {
			warn(svc.Name, "user", fmt.Sprintf("%q is a name: pods run as numeric ids, so the image's user is used; write the uid (e.g. 1000)", svc.User))
		}
	}
	if svc.Privileged {
		sc.Privileged = &svc.Privileged
	}
	if svc.ReadOnly {
		sc.ReadOnlyRootFilesystem = &svc.ReadOnly
	}
	if len(svc.CapAdd) > 0 || len(svc.CapDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{}
		for _, cp := range svc.CapAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(strings.TrimPrefix(cp, "CAP_")))
		}
		for _, cp := range svc.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(strings.TrimPrefix(cp, "CAP_")))
		}
	}
	if *sc != (corev1.SecurityContext{}) {
		c.SecurityContext = sc
	}

	if svc.MemLimit > 0 || svc.NanoCPUs > 0 {
		c.Resources.Limits = corev1.ResourceList{}
		if svc.MemLimit > 0 {
			c.Resources.Limits[corev1.ResourceMemory] = *resource.NewQuantity(svc.MemLimit, resource.BinarySI)
		}
		if svc.NanoCPUs > 0 {
			c.Resources.Limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(svc.NanoCPUs/1e6, resource.DecimalSI)
		}
	}

	if h := svc.Healthcheck; h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE" {
		var cmd []string
		switch h.Test[0] {
		case "CMD":
			cmd = h.Test[1:]
		case "CMD-SHELL":
			cmd = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
		default:
			cmd = []string{"/bin/sh", "-c", strings.Join(h.Test, " ")}
		}
		interval := h.Interval
		if interval == 0 {
			interval = 30 * time.Second
		}
		timeout := h.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		retries := int32(h.Retries)
		if retries == 0 {
			retries = 3
		}
		probe := func() *corev1.Probe {
			return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
				PeriodSeconds: seconds(interval, 1), TimeoutSeconds: seconds(timeout, 1), SuccessThreshold: 1}
		}
		// Ready (compose's healthy) at the first success; restarted after
		// retries failures once the start period is over.
		c.ReadinessProbe = probe()
		c.ReadinessProbe.FailureThreshold = 1
		if h.StartInterval > 0 {
			c.ReadinessProbe.PeriodSeconds = seconds(h.StartInterval, 1)
		}
		c.LivenessProbe = probe()
		c.LivenessProbe.FailureThreshold = retries
		c.LivenessProbe.InitialDelaySeconds = seconds(h.StartPeriod, 0)
	}

	pod := corev1.PodSpec{EnableServiceLinks: ptr(false)}
	if svc.StopGracePeriod != nil {
		s := int64(*svc.StopGracePeriod / time.Second)
		pod.TerminationGracePeriodSeconds = &s
	}
	if svc.Hostname != "" {
		if len(validation.IsDNS1123Label(svc.Hostname)) == 0 {
			pod.Hostname = svc.Hostname
		} else {
			warn(svc.Name, "hostname", fmt.Sprintf("%q is not a DNS label: the pod keeps its own name", svc.Hostname))
		}
	}
	for _, eh := range svc.ExtraHosts {
		host, ip, ok := strings.Cut(eh, ":")
		if !ok {
			host, ip, _ = strings.Cut(eh, "=")
		}
		if ip == "host-gateway" {
			warn(svc.Name, "extra_hosts", host+": host-gateway has no meaning on a cluster; left out")
			continue
		}
		pod.HostAliases = append(pod.HostAliases, corev1.HostAlias{IP: ip, Hostnames: []string{host}})
	}
	if t.Hosts != nil {
		byIP := map[string][]string{}
		for h, ip := range t.Hosts {
			byIP[ip] = append(byIP[ip], h)
		}
		var ips []string
		for ip := range byIP {
			ips = append(ips, ip)
		}
		sort.Strings(ips)
		for _, ip := range ips {
			sort.Strings(byIP[ip])
			pod.HostAliases = append(pod.HostAliases, corev1.HostAlias{IP: ip, Hostnames: byIP[ip]})
		}
	}
	if len(svc.Sysctls) > 0 {
		pod.SecurityContext = &corev1.PodSecurityContext{}
		var keys []string
		for k := range svc.Sysctls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			pod.SecurityContext.Sysctls = append(pod.SecurityContext.Sysctls, corev1.Sysctl{Name: k, Value: svc.Sysctls[k]})
		}
	}

	// Volumes.
	recreate := false
	vol := 0
	addVolume := func(v corev1.Volume, mount corev1.VolumeMount) {
		vol++
		v.Name = fmt.Sprintf("v%d", vol)
		mount.Name = v.Name
		pod.Volumes = append(pod.Volumes, v)
		c.VolumeMounts = append(c.VolumeMounts, mount)
	}
	for _, mt := range svc.Volumes {
		mount := corev1.VolumeMount{MountPath: mt.Target, ReadOnly: mt.ReadOnly}
		switch mt.Type {
		case model.MountVolume:
			if mt.Source == "" {
				addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, mount)
				continue
			}
			claim, ok := claimOf[mt.Source]
			if !ok {
				return nil, nil, fmt.Errorf("service %s: volumes: %q is not a volume of the project", svc.Name, mt.Source)
			}
			if !t.StorageClass && !p.Volumes[mt.Source].External {
				warn(svc.Name, "volumes", fmt.Sprintf("the cluster has no default storage class: volume %s is an emptyDir, lost when the pod is replaced", mt.Source))
				addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, mount)
				continue
			}
			recreate = true // a ReadWriteOnce claim: the old pod lets go before the new one mounts it
			addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}, mount)
		case model.MountTmpfs:
			ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if mt.TmpfsSize > 0 {
				ed.SizeLimit = resource.NewQuantity(mt.TmpfsSize, resource.BinarySI)
			}
			addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: ed}}, mount)
		case model.MountBind:
			if synced(t.Synced[svc.Name], mt.Target) {
				// Live sync fills it, as on a remote engine.
				addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, mount)
				continue
			}
			warn(svc.Name, "volumes", fmt.Sprintf("bind mount of %s has no meaning on a cluster and is left out: sync it with a develop.watch rule whose target is %s", mt.Source, mt.Target))
		}
	}
	for _, tm := range svc.Tmpfs {
		target, _, _ := strings.Cut(tm, ":")
		addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			corev1.VolumeMount{MountPath: target})
	}
	if svc.ShmSize > 0 {
		addVolume(corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(svc.ShmSize, resource.BinarySI)}}},
			corev1.VolumeMount{MountPath: "/dev/shm"})
	}
	var inputs []string
	fileRefs := func(kind string, refs []model.FileRef) {
		for _, r := range refs {
			base, _ := objectName(kind, r.Source)
			target := r.Target
			if target == "" {
				if kind == "secret" {
					target = "/run/secrets/" + r.Source
				} else {
					target = "/" + r.Source
				}
			}
			if r.UID != "" || r.GID != "" {
				warn(svc.Name, kind+"s", r.Source+": uid and gid have no meaning for a mounted "+kind+" (the pod's fsGroup decides)")
			}
			var mode *int32
			if r.Mode != nil {
				m := int32(*r.Mode)
				mode = &m
			}
			items := []corev1.KeyToPath{{Key: "content", Path: path.Base(target), Mode: mode}}
			var src corev1.VolumeSource
			if kind == "secret" {
				src.Secret = &corev1.SecretVolumeSource{SecretName: kind + "-" + base, Items: items}
			} else {
				src.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: kind + "-" + base}, Items: items}
			}
			// subPath puts the one file at the path compose mounts it at,
			// leaving the rest of its directory as the image has it.
			addVolume(corev1.Volume{VolumeSource: src}, corev1.VolumeMount{MountPath: target, SubPath: path.Base(target), ReadOnly: true})
			inputs = append(inputs, inputHash[kind+"/"+r.Source])
		}
	}
	fileRefs("config", svc.Configs)
	fileRefs("secret", svc.Secrets)
	pod.Containers = []corev1.Container{c}

	// What has no Kubernetes meaning.
	switch {
	case svc.NetworkMode == "host":
		warn(svc.Name, "network_mode", "host: pods have their own network on a cluster; left out")
	case strings.HasPrefix(svc.NetworkMode, "service:"), strings.HasPrefix(svc.NetworkMode, "container:"):
		warn(svc.Name, "network_mode", svc.NetworkMode+": pods of different services do not share a network namespace; left out")
	}
	switch svc.Restart {
	case "", "always", "unless-stopped":
	default:
		warn(svc.Name, "restart", svc.Restart+": a Deployment's pods are always restarted")
	}
	if svc.Init != nil && *svc.Init {
		warn(svc.Name, "init", "pods have no init process of the runtime's; left out")
	}
	for _, f := range []struct {
		set   bool
		field string
	}{
		{svc.ContainerName != "", "container_name"}, {len(svc.DNS) > 0, "dns"}, {len(svc.SecurityOpt) > 0, "security_opt"},
		{len(svc.Ulimits) > 0, "ulimits"}, {svc.PidsLimit > 0, "pids_limit"}, {svc.StopSignal != "", "stop_signal"},
		{svc.Logging != nil && svc.Logging.Driver != "", "logging"}, {svc.Platform != "", "platform"},
	} {
		if f.set {
			warn(svc.Name, f.field, "has no Kubernetes meaning here; left out")
		}
	}

	replicas := int32(svc.Replicas)
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(name, ns, labels),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selector(p.Name, svc.Name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{}},
				Spec:       pod,
			},
		},
	}
	if recreate {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	} else {
		zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}}
	}
	for k, v := range svc.Labels {
		d.Annotations[k] = v
		d.Spec.Template.Annotations[k] = v
	}
	if len(inputs) > 0 {
		d.Spec.Template.Annotations[annotationInputs] = Hash(inputs)
	}
	if deps := dependsOn(svc); deps != "" {
		d.Annotations[model.LabelDependsOn] = deps
	}

	// The Service: the service's name resolves to it, with its ports;
	// each network alias is one more Service with the same selector.
	var ports []corev1.ServicePort
	var published []string
	seen := map[string]bool{}
	addPort := func(target uint32, proto string) {
		if proto == "" {
			proto = "tcp"
		}
		key := fmt.Sprintf("%d/%s", target, proto)
		if seen[key] {
			return
		}
		seen[key] = true
		ports = append(ports, corev1.ServicePort{Name: fmt.Sprintf("%s-%d", proto, target), Port: int32(target),
			TargetPort: intstr.FromInt32(int32(target)), Protocol: corev1.Protocol(strings.ToUpper(proto))})
	}
	for _, pt := range svc.Ports {
		addPort(pt.Target, pt.Protocol)
		if pt.Published != "" {
			host := pt.HostIP
			if host == "" {
				host = "127.0.0.1"
			}
			published = append(published, fmt.Sprintf("%s:%s->%d/%s", host, pt.Published, pt.Target, cmpOr(pt.Protocol, "tcp")))
		}
	}
	for _, e := range svc.Expose {
		port, proto, _ := strings.Cut(e, "/")
		if n, err := strconv.ParseUint(port, 10, 16); err == nil {
			addPort(uint32(n), proto)
		}
	}
	for i := range d.Spec.Template.Spec.Containers {
		for _, sp := range ports {
			d.Spec.Template.Spec.Containers[i].Ports = append(d.Spec.Template.Spec.Containers[i].Ports,
				corev1.ContainerPort{ContainerPort: sp.Port, Protocol: sp.Protocol})
		}
	}
	stamp(&d.ObjectMeta, d)

	names := []string{name}
	var nets []string
	for n := range svc.Networks {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		for _, a := range svc.Networks[n].Aliases {
			an, err := objectName("alias", a)
			if err != nil {
				warn(svc.Name, "networks."+n+".aliases", err.Error())
				continue
			}
			if !contains(names, an) {
				names = append(names, an)
			}
		}
	}
	var services []*corev1.Service
	for _, n := range names {
		s := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: meta(n, ns, ServiceLabels(p.Name, svc.Name)),
			Spec:       corev1.ServiceSpec{Selector: selector(p.Name, svc.Name), Ports: ports},
		}
		if len(ports) == 0 {
			s.Spec.ClusterIP = corev1.ClusterIPNone // the name still resolves, to the pods
		}
		if n == name && len(published) > 0 {
			s.Annotations[AnnotationPorts] = strings.Join(published, ",")
		}
		stamp(&s.ObjectMeta, s)
		services = append(services, s)
	}
	return d, services, nil
}

func dependsOn(svc *model.Service) string {
	var deps []string
	for n, dep := range svc.DependsOn {
		deps = append(deps, n+":"+dep.Condition)
	}
	sort.Strings(deps)
	return strings.Join(deps, ",")
}

func synced(targets []string, p string) bool {
	for _, t := range targets {
		if p == t || strings.HasPrefix(p, strings.TrimSuffix(t, "/")+"/") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func ptr[T any](v T) *T { return &v }
