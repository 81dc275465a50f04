package kube

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"devstack/engine/model"
)

func testProject() *model.Project {
	greeting := "hi"
	return &model.Project{
		Name:    "shop",
		Volumes: map[string]model.Volume{"data": {Name: "shop_data"}},
		Configs: map[string]model.FileObject{"app_conf": {Name: "app_conf", Content: "port=1"}},
		Secrets: map[string]model.FileObject{"token": {Name: "token", Content: "s3cret"}},
		Services: []model.Service{
			{
				Name: "api", Image: "api:dev", Replicas: 2,
				Command: []string{"serve"}, Entrypoint: []string{"/bin/app"},
				Environment: map[string]*string{"GREETING": &greeting},
				User:        "1000:1000", WorkingDir: "/srv",
				MemLimit: 64 << 20, NanoCPUs: 500_000_000,
				Ports:    []model.Port{{Target: 8080, Published: "8080", Protocol: "tcp"}},
				Networks: map[string]model.ServiceNetwork{"default": {Aliases: []string{"backend"}}},
				Volumes: []model.Mount{
					{Type: model.MountVolume, Source: "data", Target: "/data"},
					{Type: model.MountBind, Source: "/home/me/src", Target: "/src"},
					{Type: model.MountBind, Source: "/home/me/www", Target: "/www"},
				},
				Configs:     []model.FileRef{{Source: "app_conf", Target: "/etc/app.conf"}},
				Secrets:     []model.FileRef{{Source: "token"}},
				Healthcheck: &model.Healthcheck{Test: []string{"CMD-SHELL", "nc -z 127.0.0.1 8080"}, Interval: 2 * time.Second, Retries: 5, StartPeriod: 10 * time.Second},
				DependsOn:   map[string]model.Dependency{"db": {Condition: model.ConditionHealthy}},
				NetworkMode: "host",
			},
			{Name: "db", Image: "db:1", Replicas: 1},
		},
	}
}

func TestTranslateMapsAServiceField(t *testing.T) {
	m, err := Translate(testProject(), Target{Namespace: "ns", StorageClass: true, Synced: map[string][]string{"api": {"/www"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Deployments) != 2 || len(m.Claims) != 1 || len(m.ConfigMaps) != 1 || len(m.Secrets) != 1 {
		t.Fatalf("objects: %d deployments, %d claims, %d configmaps, %d secrets", len(m.Deployments), len(m.Claims), len(m.ConfigMaps), len(m.Secrets))
	}
	d := m.Deployments[0]
	if d.Name != "api" || *d.Spec.Replicas != 2 || d.Namespace != "ns" {
		t.Fatalf("deployment %s/%s replicas %d", d.Namespace, d.Name, *d.Spec.Replicas)
	}
	if d.Labels["com.docker.compose.project"] != "shop" || d.Labels["app.kubernetes.io/name"] != "api" || d.Annotations[AnnotationHash] == "" {
		t.Fatalf("labels %v annotations %v", d.Labels, d.Annotations)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if strings.Join(c.Command, " ") != "/bin/app" || strings.Join(c.Args, " ") != "serve" || c.WorkingDir != "/srv" {
		t.Fatalf("command %v args %v workdir %q", c.Command, c.Args, c.WorkingDir)
	}
	if *c.SecurityContext.RunAsUser != 1000 || *c.SecurityContext.RunAsGroup != 1000 {
		t.Fatal("user not mapped")
	}
	if c.Resources.Limits.Memory().Value() != 64<<20 || c.Resources.Limits.Cpu().MilliValue() != 500 {
		t.Fatalf("limits %v", c.Resources.Limits)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.PeriodSeconds != 2 || c.LivenessProbe.FailureThreshold != 5 || c.LivenessProbe.InitialDelaySeconds != 10 {
		t.Fatalf("probes %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if c.ReadinessProbe.Exec.Command[0] != "/bin/sh" {
		t.Fatalf("probe command %v", c.ReadinessProbe.Exec.Command)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	if _, ok := mounts["/src"]; ok {
		t.Fatal("an unsynced bind mount was mapped")
	}
	for _, p := range []string{"/data", "/www", "/etc/app.conf", "/run/secrets/token"} {
		if _, ok := mounts[p]; !ok {
			t.Fatalf("no mount at %s: %v", p, mounts)
		}
	}
	if mounts["/etc/app.conf"].SubPath != "app.conf" {
		t.Fatalf("config mount %+v", mounts["/etc/app.conf"])
	}
	if d.Spec.Strategy.Type != "Recreate" {
		t.Fatalf("a claim-mounting service rolls with %s", d.Spec.Strategy.Type)
	}
	// The service name and its alias both resolve.
	var names []string
	for _, s := range m.Services {
		if s.Labels["com.docker.compose.service"] == "api" {
			names = append(names, s.Name)
			if s.Spec.Ports[0].Port != 8080 {
				t.Fatalf("service ports %v", s.Spec.Ports)
			}
		}
	}
	if strings.Join(names, ",") != "api,backend" {
		t.Fatalf("services for api: %v", names)
	}
	var warned []string
	for _, w := range m.Warnings {
		warned = append(warned, w.String())
	}
	all := strings.Join(warned, "\n")
	for _, want := range []string{"service api: network_mode: host", "service api: volumes: bind mount of /home/me/src"} {
		if !strings.Contains(all, want) {
			t.Fatalf("no warning %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "/home/me/www") {
		t.Fatalf("a synced bind mount was warned about:\n%s", all)
	}
}

func TestTranslateHashChangesOnlyWithWhatChanged(t *testing.T) {
	a, _ := Translate(testProject(), Target{Namespace: "ns", StorageClass: true})
	p := testProject()
	p.Configs["app_conf"] = model.FileObject{Name: "app_conf", Content: "port=2"}
	b, _ := Translate(p, Target{Namespace: "ns", StorageClass: true})
	if a.Deployments[0].Annotations[AnnotationHash] == b.Deployments[0].Annotations[AnnotationHash] {
		t.Fatal("a config edit left the Deployment that mounts it unchanged")
	}
	if a.Deployments[1].Annotations[AnnotationHash] != b.Deployments[1].Annotations[AnnotationHash] {
		t.Fatal("a config edit changed a Deployment that does not mount it")
	}
	c, _ := Translate(testProject(), Target{Namespace: "ns", StorageClass: true})
	if a.Deployments[0].Annotations[AnnotationHash] != c.Deployments[0].Annotations[AnnotationHash] {
		t.Fatal("the same project hashed differently")
	}
}

func TestTranslateWithoutStorageClassWarns(t *testing.T) {
	m, err := Translate(testProject(), Target{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Claims) != 0 {
		t.Fatal("claims without a storage class")
	}
	found := false
	for _, w := range m.Warnings {
		found = found || (w.Service == "api" && strings.Contains(w.Message, "no default storage class"))
	}
	if !found {
		t.Fatalf("no warning: %v", m.Warnings)
	}
}

func TestTranslateRefusesANameThatCannotBeAnObject(t *testing.T) {
	p := testProject()
	p.Services[1].Name = "Db_Main!"
	if _, err := Translate(p, Target{Namespace: "ns"}); err == nil || !strings.Contains(err.Error(), `service "Db_Main!"`) {
		t.Fatalf("err = %v", err)
	}
}
