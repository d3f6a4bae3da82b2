package main

// The `template` command renders controller templates the way spire-controller-manager (SCM)
// does, for the differential test of our template engine
// (spiffe-controller/tests/template_go.rs) and the `template` fuzz target. It reads one JSON
// question a line on stdin and writes one JSON answer a line on stdout:
//
//	{"name": "spiffeIDTemplate", "template": "spiffe://{{ .TrustDomain }}/...",
//	 "pod": {...}, "node": {...},
//	 "trustDomain": "example.org", "clusterName": "demo", "clusterDomain": "cluster.local"}
//
// `pod` and `node` are Kubernetes JSON, decoded into corev1.Pod and corev1.Node. The data is
// SCM's templateData (pkg/spireentry/entries.go, v0.7.0): TrustDomain, ClusterName,
// ClusterDomain, and pointers to the pod's and node's ObjectMeta and spec. Without `pod` the
// pod fields stay nil pointers, as when SCM renders the parent ID template. The template is
// parsed with text/template's New(name).Parse and executed with no options, exactly as SCM
// does (so missingkey is Go's default: a missing map key prints "<no value>").
//
// An answer is {"ok": true, "output": "...", "utf8": true} or
// {"ok": false, "stage": "parse"|"exec"|"question", "error": "..."}; `utf8` is false when the
// output is not valid UTF-8 (JSON then carries it with U+FFFD replacements).
//
// Times print in UTC: SCM's metav1.Time values are in the process's local zone, which is UTC
// in SCM's container image; the command sets time.Local to UTC so the answers do not depend on
// the machine.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"text/template"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type templateQuestion struct {
	Name          string          `json:"name"`
	Template      string          `json:"template"`
	Pod           json.RawMessage `json:"pod"`
	Node          json.RawMessage `json:"node"`
	TrustDomain   string          `json:"trustDomain"`
	ClusterName   string          `json:"clusterName"`
	ClusterDomain string          `json:"clusterDomain"`
}

type templateAnswer struct {
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	UTF8   bool   `json:"utf8"`
	Stage  string `json:"stage,omitempty"`
	Error  string `json:"error,omitempty"`
}

// templateData is SCM's spireentry.templateData, field for field.
type templateData struct {
	TrustDomain   string
	ClusterName   string
	ClusterDomain string
	PodMeta       *metav1.ObjectMeta
	PodSpec       *corev1.PodSpec
	NodeMeta      *metav1.ObjectMeta
	NodeSpec      *corev1.NodeSpec
}

func renderTemplates() error {
	time.Local = time.UTC
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		if err := enc.Encode(answerTemplate(in.Bytes())); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return in.Err()
}

func answerTemplate(line []byte) (a templateAnswer) {
	defer func() {
		// text/template turns its own panics into errors; anything else is a bug here.
		if r := recover(); r != nil {
			a = templateAnswer{Stage: "panic", Error: fmt.Sprint(r)}
		}
	}()
	var q templateQuestion
	if err := json.Unmarshal(line, &q); err != nil {
		return templateAnswer{Stage: "question", Error: err.Error()}
	}
	data := &templateData{
		TrustDomain:   q.TrustDomain,
		ClusterName:   q.ClusterName,
		ClusterDomain: q.ClusterDomain,
	}
	var node corev1.Node
	if len(q.Node) > 0 && string(q.Node) != "null" {
		if err := json.Unmarshal(q.Node, &node); err != nil {
			return templateAnswer{Stage: "question", Error: "node: " + err.Error()}
		}
	}
	data.NodeMeta = &node.ObjectMeta
	data.NodeSpec = &node.Spec
	if len(q.Pod) > 0 && string(q.Pod) != "null" {
		var pod corev1.Pod
		if err := json.Unmarshal(q.Pod, &pod); err != nil {
			return templateAnswer{Stage: "question", Error: "pod: " + err.Error()}
		}
		data.PodMeta = &pod.ObjectMeta
		data.PodSpec = &pod.Spec
	}
	name := q.Name
	if name == "" {
		name = "spiffeIDTemplate"
	}
	tmpl, err := template.New(name).Parse(q.Template)
	if err != nil {
		return templateAnswer{Stage: "parse", Error: err.Error()}
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return templateAnswer{Stage: "exec", Error: err.Error()}
	}
	return templateAnswer{OK: true, Output: buf.String(), UTF8: utf8.Valid(buf.Bytes())}
}
