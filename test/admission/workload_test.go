//go:build e2e

package admission

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// workloadNamespace holds the Deployments; the sample constraint judges
// its Pods.
const workloadNamespace = "assay-workloads"

var (
	controllerManagerOnce sync.Once
	controllerManagerErr  error
)

// startControllerManager runs kube-controller-manager with only the
// Deployment and ReplicaSet controllers, once per test binary: they turn
// a Deployment into a ReplicaSet and the ReplicaSet into Pods, which the
// API server sends through Gatekeeper's webhook as it would any Pod.
func startControllerManager(t *testing.T) {
	t.Helper()
	controllerManagerOnce.Do(func() { controllerManagerErr = runControllerManager(context.Background()) })
	if controllerManagerErr != nil {
		t.Fatalf("kube-controller-manager: %v", controllerManagerErr)
	}
}

func runControllerManager(ctx context.Context) error {
	assets, _, err := tools()
	if err != nil {
		return err
	}
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing: run `make cluster-tools`", bin)
	}
	logPath := filepath.Join(env.dir, "kube-controller-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin,
		"--kubeconfig="+env.kubeconfig,
		"--controllers=deployment-controller,replicaset-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-deployment-syncs=2", "--concurrent-replicaset-syncs=2",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	env.cleanup(p.stop)
	select {
	case <-p.exited:
		return fmt.Errorf("exited at once (%v):\n%s", cmd.ProcessState, p.output())
	case <-time.After(500 * time.Millisecond):
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNamespace}}
	if _, err := env.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "default"}}
	_, err = env.kube.CoreV1().ServiceAccounts(workloadNamespace).Create(ctx, sa, metav1.CreateOptions{})
	return err
}

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

// podsOf lists the Pods of Deployment name (by its label).
func podsOf(ctx context.Context, name string) ([]corev1.Pod, error) {
	list, err := env.kube.CoreV1().Pods(workloadNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func TestDeploymentOfAnUnsignedImageGetsNoPods(t *testing.T) {
	startControllerManager(t)
	ctx := context.Background()
	deployments := env.kube.AppsV1().Deployments(workloadNamespace)

	// The Deployment object is not a Pod: it is stored. Its ReplicaSet's
	// Pods are what the constraint judges, and each is denied.
	unsigned := push(t, "unsigned", false)
	if _, err := deployments.Create(ctx, deployment("unsigned", 2, unsigned), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment: %v", err)
	}
	want := denial(env.constraintName, notSigned(unsigned))
	var rs *appsv1.ReplicaSet
	deadline := time.Now().Add(30 * time.Second) // a polling bound
	for {
		list, err := env.kube.AppsV1().ReplicaSets(workloadNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=unsigned"})
		if err == nil && len(list.Items) == 1 {
			rs = &list.Items[0]
			if cond := replicaFailure(rs); cond != nil {
				if cond.Reason != "FailedCreate" || !strings.Contains(cond.Message, want) {
					t.Errorf("ReplicaSet %s ReplicaFailure %s: %q, want FailedCreate containing %q", rs.Name, cond.Reason, cond.Message, want)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ReplicaSet of Deployment unsigned reports the denial (%v, %+v)", err, rs)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The ReplicaSet's events say the same, for `kubectl describe`.
	events, err := env.kube.CoreV1().Events(workloadNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=ReplicaSet,involvedObject.name=" + rs.Name + ",reason=FailedCreate"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events.Items {
		found = found || strings.Contains(e.Message, want)
	}
	if !found {
		t.Errorf("no FailedCreate event of ReplicaSet %s carries the denial; events: %+v", rs.Name, events.Items)
	}
	if pods, err := podsOf(ctx, "unsigned"); err != nil || len(pods) != 0 {
		t.Errorf("Deployment unsigned has %d pods (%v), want none", len(pods), err)
	}

	// A signed image's Deployment gets its two Pods (Pending: no kubelet).
	signed := push(t, "signed", true)
	if _, err := deployments.Create(ctx, deployment("signed", 2, signed), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment: %v", err)
	}
	deadline = time.Now().Add(30 * time.Second) // a polling bound
	for {
		pods, err := podsOf(ctx, "signed")
		if err == nil && len(pods) == 2 {
			for _, p := range pods {
				if p.Spec.Containers[0].Image != signed {
					t.Errorf("pod %s runs %s, want %s", p.Name, p.Spec.Containers[0].Image, signed)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Deployment signed has %d pods (%v), want 2", len(pods), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func replicaFailure(rs *appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for i := range rs.Status.Conditions {
		if c := &rs.Status.Conditions[i]; c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}
