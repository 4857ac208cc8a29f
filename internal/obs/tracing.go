package obs

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Tracing is a process's tracer provider: OTLP over gRPC when an endpoint
// is configured, a no-op otherwise (no exporter, no cost).
type Tracing struct {
	// Provider makes the tracers (the SDK interceptor's, otelhttp's).
	Provider trace.TracerProvider
	// Propagator carries the trace context in HTTP headers.
	Propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// NewTracing returns the tracer provider for service. endpoint is an OTLP
// gRPC URL (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://otel-collector:4317);
// empty turns tracing off. The exporter's other settings (headers,
// timeouts) come from the standard OTEL_EXPORTER_OTLP_* variables.
func NewTracing(ctx context.Context, service, endpoint string) (*Tracing, error) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if endpoint == "" {
		return &Tracing{Provider: noop.NewTracerProvider(), Propagator: prop, shutdown: func(context.Context) error { return nil }}, nil
	}
	if u, err := url.Parse(endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q is not an http(s) URL", endpoint)
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Propagator: prop, shutdown: tp.Shutdown}, nil
}

// TracingFrom wraps a tracer provider built elsewhere (a test's recorder,
// or a process that configures OpenTelemetry itself). Shutdown shuts it
// down if it can be.
func TracingFrom(tp trace.TracerProvider) *Tracing {
	shutdown := func(context.Context) error { return nil }
	if s, ok := tp.(interface{ Shutdown(context.Context) error }); ok {
		shutdown = s.Shutdown
	}
	return &Tracing{Provider: tp, Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), shutdown: shutdown}
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool {
	_, noopProvider := t.Provider.(noop.TracerProvider)
	return !noopProvider
}

// Interceptor is the Temporal SDK's OpenTelemetry interceptor: it carries
// the trace from the client call (the gateway's request) through the
// workflow to each activity (the CA and payment calls).
func (t *Tracing) Interceptor() (interceptor.Interceptor, error) {
	return opentelemetry.NewTracingInterceptor(opentelemetry.TracerOptions{
		Tracer:            t.Provider.Tracer("certflow/temporal"),
		TextMapPropagator: t.Propagator,
	})
}

// Shutdown flushes the spans still buffered.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }
