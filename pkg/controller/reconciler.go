package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConditionReady is the condition type every object reports.
const ConditionReady = "Ready"

// Reasons of the Ready condition.
const (
	// ReasonApplied: the object's current generation is in effect.
	ReasonApplied = "Applied"
	// ReasonInvalid: the current generation is invalid; the last good
	// one, if any, stays in effect.
	ReasonInvalid = "Invalid"
	// ReasonApplyFailed: the configuration was valid but could not be
	// put in effect.
	ReasonApplyFailed = "ApplyFailed"
)

// ApplyFunc puts a validated configuration in effect. id identifies it
// (a hash of the objects' specs), for verdict caches.
type ApplyFunc func(ctx context.Context, objs *catalog.Objects, id string) error

// CheckVerifierFunc asks a Verifier's plugin whether it accepts the
// Verifier (artifact types, parameters). It returns an error naming the
// field, or nil.
type CheckVerifierFunc func(ctx context.Context, v v1alpha1.Verifier) error

// Reconciler keeps the configuration in step with the cluster's objects.
type Reconciler struct {
	// Client reads the objects and writes their status. Required.
	Client client.Client
	// Apply receives every configuration that changed. Required.
	Apply ApplyFunc
	// CheckVerifier validates Verifiers against their plugin. Optional.
	CheckVerifier CheckVerifierFunc
	// Elected is closed when this replica may write status (the leader);
	// nil means always.
	Elected <-chan struct{}
	// Log receives a line per configuration applied or refused.
	Log logr.Logger
	// Name of the controller, unique in the process (controller-runtime
	// names its metrics after it). Default "assay-configuration".
	Name string
	// Secrets reads the Stores' pullSecrets (Get only, uncached, so
	// Assay needs no permission to list or watch Secrets). If nil,
	// Client is used.
	Secrets client.Reader
	// SecretResync is how often the pullSecrets are read again, to see
	// rotated credentials; 0 means DefaultSecretResync.
	SecretResync time.Duration

	mu       sync.Mutex
	lastGood map[string]client.Object // by kind/name: the last valid version
	applied  string                   // id of the configuration in effect
	inEffect map[string]int64         // by kind/name: the generation in effect
}

// DefaultSecretResync is how often pullSecrets are read again.
const DefaultSecretResync = time.Minute

// key is the single work item: every object enqueues it.
var key = reconcile.Request{NamespacedName: types.NamespacedName{Name: "configuration"}}

// SetupWithManager watches the three kinds. The controller runs on every
// replica (it does not need leader election); status writes wait for
// Elected.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.Apply == nil {
		return errors.New("controller: Reconciler needs a Client and an Apply function")
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{key}
	})
	changed := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	needLeader := false
	name := r.Name
	if name == "" {
		name = "assay-configuration"
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(ctrlOptions(&needLeader)).
		Watches(&v1alpha1.Store{}, one, changed).
		Watches(&v1alpha1.Verifier{}, one, changed).
		Watches(&v1alpha1.Policy{}, one, changed).
		Complete(r)
}

// Reconcile reads every Store, Verifier and Policy, builds the
// configuration from the valid ones (and the last good version of the
// invalid ones), applies it when it changed, and writes each object's
// Ready condition.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastGood == nil {
		r.lastGood = map[string]client.Object{}
	}
	var stores v1alpha1.StoreList
	var verifiers v1alpha1.VerifierList
	var policies v1alpha1.PolicyList
	for _, l := range []client.ObjectList{&stores, &verifiers, &policies} {
		if err := r.Client.List(ctx, l); err != nil {
			return reconcile.Result{}, fmt.Errorf("list verification objects: %w", err)
		}
	}
	live := map[string]client.Object{}
	for i := range stores.Items {
		live[objKey(v1alpha1.KindStore, stores.Items[i].Name)] = &stores.Items[i]
	}
	for i := range verifiers.Items {
		live[objKey(v1alpha1.KindVerifier, verifiers.Items[i].Name)] = &verifiers.Items[i]
	}
	for i := range policies.Items {
		live[objKey(v1alpha1.KindPolicy, policies.Items[i].Name)] = &policies.Items[i]
	}
	for k := range r.lastGood { // deleted objects leave at once
		if _, ok := live[k]; !ok {
			delete(r.lastGood, k)
		}
	}

	problems := r.check(ctx, live)
	// The configuration: each valid object as it is, and each invalid one
	// as its last good version; if those do not fit together (a deleted
	// Verifier leaves a Policy rule nobody handles), the valid objects
	// alone. If neither holds together, nothing changes.
	withLastGood, validOnly := map[string]client.Object{}, map[string]client.Object{}
	for k, o := range live {
		if problems[k] == "" {
			withLastGood[k], validOnly[k] = o, o
		} else if good, ok := r.lastGood[k]; ok {
			withLastGood[k] = good
		}
	}
	var chosen map[string]client.Object
	var objs *catalog.Objects
	for _, candidate := range []map[string]client.Object{withLastGood, validOnly} {
		if o := objectsOf(candidate); o.Validate("cluster") == nil {
			chosen, objs = candidate, o
			break
		}
	}
	if objs == nil {
		r.Log.Info("configuration not changed: the valid objects do not hold together on their own")
		for k := range live {
			if problems[k] == "" {
				problems[k] = "not in effect: the other objects are invalid and this one does not hold without them"
			}
		}
		return reconcile.Result{}, r.writeStatus(ctx, live, problems, "", nil)
	}
	configs, err := r.dockerConfigs(ctx, objs.Stores)
	if err != nil { // a Secret went away between the check and now
		return reconcile.Result{}, err
	}
	objs.DockerConfigs = configs
	id := configID(objs)
	applyErr := ""
	if id != r.applied {
		if err := r.Apply(ctx, objs, id); err != nil {
			applyErr = err.Error()
			r.Log.Error(err, "configuration not applied; the previous one stays in effect")
		} else {
			r.applied = id
			r.Log.Info("configuration applied", "id", id, "stores", len(objs.Stores), "verifiers", len(objs.Verifiers), "policies", len(objs.Policies))
		}
	}
	if applyErr == "" {
		for k, o := range live {
			if problems[k] == "" {
				r.lastGood[k] = o.DeepCopyObject().(client.Object)
			}
		}
		r.inEffect = map[string]int64{}
		for k, o := range chosen {
			r.inEffect[k] = o.GetGeneration()
		}
	}
	result := reconcile.Result{}
	for _, o := range live { // invalid Stores too: their Secret may appear
		if s, ok := o.(*v1alpha1.Store); ok && len(s.Spec.PullSecrets) > 0 {
			result.RequeueAfter = r.SecretResync
			if result.RequeueAfter <= 0 {
				result.RequeueAfter = DefaultSecretResync
			}
		}
	}
	return result, r.writeStatus(ctx, live, problems, applyErr, r.inEffect)
}

// dockerConfigs reads the pullSecrets of stores, in order.
func (r *Reconciler) dockerConfigs(ctx context.Context, stores []v1alpha1.Store) ([][]byte, error) {
	reader := r.Secrets
	if reader == nil {
		reader = r.Client
	}
	var out [][]byte
	for _, s := range stores {
		for i, ref := range s.Spec.PullSecrets {
			field := fmt.Sprintf("field spec.pullSecrets[%d]", i)
			var sec corev1.Secret
			if err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &sec); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("%s: Secret %s/%s does not exist", field, ref.Namespace, ref.Name)
				}
				return nil, fmt.Errorf("%s: read Secret %s/%s: %w", field, ref.Namespace, ref.Name, err)
			}
			data, ok := sec.Data[corev1.DockerConfigJsonKey]
			if sec.Type != corev1.SecretTypeDockerConfigJson || !ok {
				return nil, fmt.Errorf("%s: Secret %s/%s is of type %q without %q; want a %s Secret", field, ref.Namespace, ref.Name, sec.Type, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson)
			}
			out = append(out, data)
		}
	}
	return out, nil
}

// check validates every object on its own and against the others; it
// returns a message per object with a problem.
func (r *Reconciler) check(ctx context.Context, live map[string]client.Object) map[string]string {
	problems := map[string]string{}
	add := func(k, msg string) {
		if problems[k] != "" {
			problems[k] += "; "
		}
		problems[k] += msg
	}
	if err := objectsOf(live).Validate("cluster"); err != nil {
		for _, e := range unjoin(err) {
			var oe *catalog.ObjectError
			if errors.As(e, &oe) && oe.Kind != "" {
				add(objKey(oe.Kind, oe.Name), fieldMessage(oe))
				continue
			}
			for k := range live {
				add(k, e.Error())
			}
		}
	}
	for k, o := range live {
		if s, ok := o.(*v1alpha1.Store); ok {
			if _, err := r.dockerConfigs(ctx, []v1alpha1.Store{*s}); err != nil {
				add(k, err.Error())
			}
		}
	}
	if r.CheckVerifier != nil {
		for k, o := range live {
			v, ok := o.(*v1alpha1.Verifier)
			if !ok || problems[k] != "" {
				continue
			}
			if err := r.CheckVerifier(ctx, *v); err != nil {
				add(k, err.Error())
			}
		}
	}
	return problems
}

// writeStatus sets each object's Ready condition, if this replica leads.
func (r *Reconciler) writeStatus(ctx context.Context, live map[string]client.Object, problems map[string]string, applyErr string, inEffect map[string]int64) error {
	if inEffect == nil {
		inEffect = r.inEffect
	}
	if r.Elected != nil {
		select {
		case <-r.Elected:
		default:
			return nil
		}
	}
	var errs []error
	for k, o := range live {
		cond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonApplied,
			Message: "in effect", ObservedGeneration: o.GetGeneration()}
		switch {
		case problems[k] != "":
			cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
			cond.Message = problems[k]
			if gen, ok := inEffect[k]; ok {
				cond.Message += fmt.Sprintf("; generation %d stays in effect", gen)
			} else {
				cond.Message += "; the object is not in effect"
			}
		case applyErr != "":
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonApplyFailed, applyErr
		}
		st := status(o)
		if st.ObservedGeneration == o.GetGeneration() && conditionEqual(meta.FindStatusCondition(st.Conditions, ConditionReady), &cond) {
			continue
		}
		st.ObservedGeneration = o.GetGeneration()
		meta.SetStatusCondition(&st.Conditions, cond)
		if err := r.Client.Status().Update(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update status of %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func conditionEqual(a, b *metav1.Condition) bool {
	return a != nil && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message && a.ObservedGeneration == b.ObservedGeneration
}

func status(o client.Object) *v1alpha1.ObjectStatus {
	switch v := o.(type) {
	case *v1alpha1.Store:
		return &v.Status
	case *v1alpha1.Verifier:
		return &v.Status
	case *v1alpha1.Policy:
		return &v.Status
	}
	panic(fmt.Sprintf("controller: unexpected object %T", o))
}

func objKey(kind, name string) string { return kind + "/" + name }

// objectsOf lists objs by kind, sorted by name, for catalog.
func objectsOf(objs map[string]client.Object) *catalog.Objects {
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := &catalog.Objects{}
	for _, k := range keys {
		switch v := objs[k].(type) {
		case *v1alpha1.Store:
			out.Stores = append(out.Stores, *v)
		case *v1alpha1.Verifier:
			out.Verifiers = append(out.Verifiers, *v)
		case *v1alpha1.Policy:
			out.Policies = append(out.Policies, *v)
		}
	}
	return out
}

// configID hashes the names and specs of objs.
func configID(objs *catalog.Objects) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, s := range objs.Stores {
		_ = enc.Encode([]any{"Store", s.Name, s.Spec})
	}
	for _, v := range objs.Verifiers {
		_ = enc.Encode([]any{"Verifier", v.Name, v.Spec})
	}
	for _, p := range objs.Policies {
		_ = enc.Encode([]any{"Policy", p.Name, p.Spec})
	}
	for _, c := range objs.DockerConfigs { // rotated credentials apply at once
		_ = enc.Encode([]any{"DockerConfig", c})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// fieldMessage is an ObjectError without the file and object it names
// (the status is on the object already).
func fieldMessage(oe *catalog.ObjectError) string {
	if oe.Field != "" {
		return "field " + oe.Field + ": " + oe.Err.Error()
	}
	return oe.Err.Error()
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) && !isObjectError(err) {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

func isObjectError(err error) bool {
	_, ok := err.(*catalog.ObjectError)
	return ok
}
