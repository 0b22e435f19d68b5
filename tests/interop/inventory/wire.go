package main

// The Confluent wire format with strict decoding (PROTOCOL.md section 2): franz-go's sr for the
// header and the registry, hamba/avro for the bodies, the project's .avsc files as schemas.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

const maxMessageBytes = 1024 * 1024

// poisonError is a value that can never be used: dead-letter it with reason.
type poisonError struct {
	reason string
	detail string
}

func (e *poisonError) Error() string { return e.reason + ": " + e.detail }

func poison(reason, format string, args ...any) error {
	return &poisonError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// outageError is a dependency that did not answer: keep the message and retry.
type outageError struct{ err error }

func (e *outageError) Error() string { return "dependency unavailable: " + e.err.Error() }
func (e *outageError) Unwrap() error { return e.err }

type codec struct {
	registry *sr.Client
	strategy string                 // TOPIC_RECORD, RECORD or TOPIC, as SAGA_SUBJECT_NAME_STRATEGY
	readers  map[string]avro.Schema // record full name -> the project's schema of it
	texts    map[string]string      // record full name -> its .avsc text
	header   sr.ConfluentHeader

	mu       sync.Mutex
	writers  map[int]avro.Schema // schema id -> writer schema
	resolved map[int]avro.Schema // schema id -> writer resolved to our reader
	ids      map[string]int      // subject -> id of our schema under it
}

// loadSchemas parses every .avsc file in dirs (the project's, read at run time): the schemas by
// record full name, and each file's text (registered as written, docs included).
func loadSchemas(dirs ...string) (map[string]avro.Schema, map[string]string, error) {
	schemas := map[string]avro.Schema{}
	texts := map[string]string{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.avsc"))
		if err != nil {
			return nil, nil, err
		}
		if len(files) == 0 {
			return nil, nil, fmt.Errorf("no .avsc file in %s", dir)
		}
		for _, file := range files {
			text, err := os.ReadFile(file)
			if err != nil {
				return nil, nil, err
			}
			schema, err := avro.ParseBytesWithCache(text, "", &avro.SchemaCache{})
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", file, err)
			}
			named, ok := schema.(avro.NamedSchema)
			if !ok {
				return nil, nil, fmt.Errorf("%s: not a named schema", file)
			}
			schemas[named.FullName()] = schema
			texts[named.FullName()] = string(text)
		}
	}
	return schemas, texts, nil
}

func newCodec(registry *sr.Client, strategy string, readers map[string]avro.Schema, texts map[string]string) *codec {
	return &codec{
		registry: registry,
		strategy: strategy,
		readers:  readers,
		texts:    texts,
		writers:  map[int]avro.Schema{},
		resolved: map[int]avro.Schema{},
		ids:      map[string]int{},
	}
}

// decode returns the record full name and fields of value, read as one of accepted.
func (c *codec) decode(ctx context.Context, topic string, value []byte, accepted map[string]bool) (string, map[string]any, error) {
	switch {
	case len(value) == 0:
		return "", nil, poison("empty_value", "%s: empty value", topic)
	case len(value) > maxMessageBytes:
		return "", nil, poison("too_large", "%s: %d bytes exceeds %d", topic, len(value), maxMessageBytes)
	case len(value) < 5:
		return "", nil, poison("truncated_header", "%s: %d bytes, shorter than the 5-byte header", topic, len(value))
	case value[0] != 0:
		return "", nil, poison("wrong_magic_byte", "%s: magic byte %d, not 0", topic, value[0])
	}
	id, body, err := c.header.DecodeID(value)
	if err != nil {
		return "", nil, poison("truncated_header", "%s: %v", topic, err)
	}
	writer, err := c.writer(ctx, topic, id)
	if err != nil {
		return "", nil, err
	}
	name := writer.(avro.NamedSchema).FullName()
	if !accepted[name] {
		return "", nil, poison("unexpected_type", "%s does not carry %s (schema id %d)", topic, name, id)
	}
	schema, err := c.readerFor(id, name, writer)
	if err != nil {
		return "", nil, err
	}
	reader := avro.NewReader(nil, 0).Reset(body)
	var fields map[string]any
	reader.ReadVal(schema, &fields)
	if reader.Error != nil {
		if errors.Is(reader.Error, io.ErrUnexpectedEOF) || errors.Is(reader.Error, io.EOF) {
			return "", nil, poison("truncated", "%s: %s body ends early: %v", topic, name, reader.Error)
		}
		return "", nil, poison("malformed", "%s: %s: %v", topic, name, reader.Error)
	}
	trailing := 0
	for one := make([]byte, 1); ; trailing++ {
		reader.Peek()
		if reader.Error != nil {
			break
		}
		reader.Read(one)
	}
	if trailing > 0 {
		return "", nil, poison("trailing_bytes", "%s: %s body followed by %d trailing bytes", topic, name, trailing)
	}
	return name, fields, nil
}

func (c *codec) writer(ctx context.Context, topic string, id int) (avro.Schema, error) {
	c.mu.Lock()
	cached, ok := c.writers[id]
	c.mu.Unlock()
	if ok {
		return cached, nil
	}
	fetched, err := c.registry.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			return nil, poison("unknown_schema_id", "%s: schema id %d is unknown to the registry", topic, id)
		}
		return nil, &outageError{err}
	}
	schema, err := avro.ParseWithCache(fetched.Schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, poison("unreadable_schema", "%s: schema id %d: %v", topic, id, err)
	}
	if _, ok := schema.(avro.NamedSchema); !ok {
		return nil, poison("unexpected_type", "%s: schema id %d is not a record", topic, id)
	}
	c.mu.Lock()
	c.writers[id] = schema
	c.mu.Unlock()
	return schema, nil
}

func (c *codec) readerFor(id int, name string, writer avro.Schema) (avro.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if schema, ok := c.resolved[id]; ok {
		return schema, nil
	}
	resolved, err := avro.NewSchemaCompatibility().Resolve(c.readers[name], writer)
	if err != nil {
		return nil, poison("unreadable_schema", "schema id %d cannot be read as our %s: %v", id, name, err)
	}
	c.resolved[id] = resolved
	return resolved, nil
}

func (c *codec) subject(topic, name string) string {
	switch c.strategy {
	case "RECORD":
		return name
	case "TOPIC":
		return topic + "-value"
	default:
		return topic + "-" + name
	}
}

// encode frames fields as the project's schema `name` on topic, registering it if need be.
func (c *codec) encode(ctx context.Context, topic, name string, fields map[string]any) ([]byte, error) {
	schema, ok := c.readers[name]
	if !ok {
		return nil, fmt.Errorf("no schema file for %s", name)
	}
	subject := c.subject(topic, name)
	c.mu.Lock()
	id, known := c.ids[subject]
	c.mu.Unlock()
	if !known {
		var err error
		id, err = c.registry.RegisterSchema(ctx, subject, sr.Schema{Schema: c.texts[name], Type: sr.TypeAvro}, -1, -1)
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) && re.StatusCode < 500 {
				return nil, fmt.Errorf("registering %s: %w", subject, err)
			}
			return nil, &outageError{err}
		}
		c.mu.Lock()
		c.ids[subject] = id
		c.mu.Unlock()
	}
	framed, err := c.header.AppendEncode(nil, id, nil)
	if err != nil {
		return nil, err
	}
	body, err := avro.Marshal(schema, fields)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", name, err)
	}
	return append(framed, body...), nil
}
