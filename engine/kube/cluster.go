package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options select the cluster, as kubectl would.
type Options struct {
	// Context is the kubeconfig context ("" for the current one).
	Context string
	// Kubeconfig is an explicit kubeconfig file; "" reads KUBECONFIG,
	// then ~/.kube/config.
	Kubeconfig string
	// Namespace is where the project goes ("" for the project name).
	Namespace string
}

// Cluster is a connection to one cluster and namespace.
type Cluster struct {
	cs        kubernetes.Interface
	cfg       *rest.Config
	namespace string
	context   string
}

// Connect reads the kubeconfig and checks that the cluster answers.
func Connect(ctx context.Context, o Options, project string) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	where := kubeconfigPlaces(rules)
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("unable to read the kubeconfig (looked in %s): %w", where, err)
	}
	name := o.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if len(raw.Contexts) == 0 {
		return nil, fmt.Errorf("no kubeconfig with a context: looked in %s; set KUBECONFIG or pass --kube-context", where)
	}
	if _, ok := raw.Contexts[name]; !ok {
		if name == "" {
			return nil, fmt.Errorf("the kubeconfig (%s) has no current context: pass --kube-context NAME", where)
		}
		return nil, fmt.Errorf("context %q is not in the kubeconfig (looked in %s)", name, where)
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("unable to use context %q of %s: %w", name, where, err)
	}
	cfg.QPS, cfg.Burst = 200, 400 // a dev tool on its own namespace: no client-side throttling to speak of
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("unable to use context %q: %w", name, err)
	}
	ns := o.Namespace
	if ns == "" {
		if ns, err = objectName("project", project); err != nil {
			return nil, fmt.Errorf("%w, or pass --namespace", err)
		}
	}
	c := &Cluster{cs: cs, cfg: cfg, namespace: ns, context: name}
	if err := c.Ping(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func kubeconfigPlaces(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	var places []string
	if v := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); v != "" {
		places = append(places, "KUBECONFIG="+v)
	}
	home, _ := os.UserHomeDir()
	places = append(places, filepath.Join(home, ".kube", "config"))
	return strings.Join(places, " and ")
}

// NewForConfig makes a Cluster from a rest config (tests, benchmarks).
func NewForConfig(cfg *rest.Config, namespace string) (*Cluster, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{cs: cs, cfg: cfg, namespace: namespace}, nil
}

// Namespace is where the project lives.
func (c *Cluster) Namespace() string { return c.namespace }

// Host names the cluster for messages.
func (c *Cluster) Host() string {
	if c.context != "" {
		return c.context + " (" + c.cfg.Host + ")"
	}
	return c.cfg.Host
}

// Clientset gives tests and benchmarks the same client.
func (c *Cluster) Clientset() kubernetes.Interface { return c.cs }

// Ping checks that the API server answers.
func (c *Cluster) Ping(ctx context.Context) error {
	if _, err := c.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
		return fmt.Errorf("unable to reach the cluster at %s: %w", c.Host(), err)
	}
	return nil
}

// explain turns an API error into one line naming what was refused.
func explain(err error, verb, resource, name, ns string) error {
	if err == nil {
		return nil
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("the cluster does not let devstack %s %s in namespace %s (RBAC): ask for %q on %q there, or pick another --namespace", verb, resource, ns, verb, resource)
	}
	what := resource
	if name != "" {
		what += " " + name
	}
	return fmt.Errorf("unable to %s %s in namespace %s: %w", verb, what, ns, err)
}

// ensureNamespace creates the namespace when missing, marked as made by
// devstack so that down -v removes it and nothing else. It says whether
// it made it (a failed up removes it again when it is left empty).
func (c *Cluster) ensureNamespace(ctx context.Context, project string) (created bool, err error) {
	_, err = c.cs.CoreV1().Namespaces().Get(ctx, c.namespace, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		if apierrors.IsForbidden(err) {
			// May not read namespaces: assume it exists and let the
			// first write say what is refused.
			return false, nil
		}
		return false, explain(err, "get", "namespaces", c.namespace, c.namespace)
	}
	ns := nsObject(c.namespace, project)
	_, err = c.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	return err == nil, explain(err, "create", "namespaces", c.namespace, c.namespace)
}

var errNotKube = errors.New("not a devstack namespace")
