// Command srcheck drives a Confluent-compatible schema registry with franz-go's pkg/sr, an
// independent client, and prints what it saw as one JSON object on stdout. The Python test
// (tests/integration/registry/test_franz_go_client.py) compares that with what the
// orchestrator's own client reads from the same registry.
//
//	srcheck <registry-url> <subject> <schema-v1.avsc> <schema-v2-incompatible.avsc>
//
// SRCHECK_BASIC_AUTH=user:password adds basic auth. Exit 1 with one line on stderr on failure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

type report struct {
	ID               int      `json:"id"`
	Version          int      `json:"version"`
	LookupID         int      `json:"lookup_id"`
	Subjects         []string `json:"subjects"`
	Versions         []int    `json:"versions"`
	FetchedSchema    string   `json:"fetched_schema"`
	GlobalLevel      string   `json:"global_level"`
	SubjectLevel     string   `json:"subject_level"`
	CompatibleSelf   bool     `json:"compatible_self"`
	CompatibleV2     bool     `json:"compatible_v2"`
	RegisterV2Status int      `json:"register_v2_status"`
	RegisterV2Code   int      `json:"register_v2_error_code"`
	UnknownIDCode    int      `json:"unknown_id_error_code"`
	EncodedHex       string   `json:"encoded_hex"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "srcheck: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: srcheck <registry-url> <subject> <v1.avsc> <v2.avsc>")
	}
	url, subject := args[0], args[1]
	v1, err := os.ReadFile(args[2])
	if err != nil {
		return err
	}
	v2, err := os.ReadFile(args[3])
	if err != nil {
		return err
	}
	opts := []sr.ClientOpt{sr.URLs(url)}
	if auth := os.Getenv("SRCHECK_BASIC_AUTH"); auth != "" {
		user, pass, _ := strings.Cut(auth, ":")
		opts = append(opts, sr.BasicAuth(user, pass))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var out report
	first := sr.Schema{Schema: string(v1), Type: sr.TypeAvro}
	created, err := cl.CreateSchema(ctx, subject, first)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	out.ID, out.Version = created.ID, created.Version
	found, err := cl.LookupSchema(ctx, subject, first)
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	out.LookupID = found.ID
	if out.Subjects, err = cl.Subjects(ctx); err != nil {
		return fmt.Errorf("subjects: %w", err)
	}
	if out.Versions, err = cl.SubjectVersions(ctx, subject); err != nil {
		return fmt.Errorf("versions: %w", err)
	}
	fetched, err := cl.SchemaByID(ctx, created.ID)
	if err != nil {
		return fmt.Errorf("schema by id: %w", err)
	}
	out.FetchedSchema = fetched.Schema
	if _, err := cl.SchemaByVersion(ctx, subject, -1); err != nil {
		return fmt.Errorf("latest: %w", err)
	}

	global := cl.Compatibility(ctx)
	if global[0].Err != nil {
		return fmt.Errorf("global compatibility: %w", global[0].Err)
	}
	out.GlobalLevel = global[0].Level.String()
	set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackwardTransitive}, subject)
	if set[0].Err != nil {
		return fmt.Errorf("set compatibility: %w", set[0].Err)
	}
	level := cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject)
	if level[0].Err != nil {
		return fmt.Errorf("subject compatibility: %w", level[0].Err)
	}
	out.SubjectLevel = level[0].Level.String()

	self, err := cl.CheckCompatibility(ctx, subject, -1, first)
	if err != nil {
		return fmt.Errorf("check v1: %w", err)
	}
	out.CompatibleSelf = self.Is
	second := sr.Schema{Schema: string(v2), Type: sr.TypeAvro}
	check, err := cl.CheckCompatibility(ctx, subject, -1, second)
	if err != nil {
		return fmt.Errorf("check v2: %w", err)
	}
	out.CompatibleV2 = check.Is
	if _, err := cl.RegisterSchema(ctx, subject, second, -1, -1); err != nil {
		var re *sr.ResponseError
		if !errors.As(err, &re) {
			return fmt.Errorf("register v2: %w", err)
		}
		out.RegisterV2Status, out.RegisterV2Code = re.StatusCode, re.ErrorCode
	}
	if _, err := cl.SchemaByID(ctx, 2147483000); err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) {
			out.UnknownIDCode = re.ErrorCode
		}
	}

	// The Confluent wire format as franz-go's serde writes it, for the Python codec to read.
	parsed, err := avro.Parse(string(v1))
	if err != nil {
		return fmt.Errorf("parse v1: %w", err)
	}
	var serde sr.Serde
	serde.Register(created.ID, map[string]any{}, sr.EncodeFn(func(v any) ([]byte, error) {
		return avro.Marshal(parsed, v)
	}))
	encoded, err := serde.Encode(map[string]any{"id": "from-go"})
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	out.EncodedHex = fmt.Sprintf("%x", encoded)
	return json.NewEncoder(os.Stdout).Encode(out)
}
