// Package asynq runs provisioning requests and notices as Asynq tasks on
// Redis: a Queue that enqueues them (one task per request, its id the task
// id, so a repeated enqueue cannot run twice) and a Worker that processes
// them with the provisioning service, retrying transient failures with
// exponential backoff and stopping on permanent ones (asynq.SkipRetry).
// The Worker also sends the notices of done requests from the outbox
// (provisioning.Service.SendNotices); notice tasks carry rating's alerts.
//
// It imports the provisioning domain and Asynq; no other adapter.
package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	hq "github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/simcore/simcore/provisioning"
)

// Task types.
const (
	TypeRequest = "provision:request"
	TypeNotice  = "provision:notice"
)

// QueueName is the Asynq queue provisioning tasks run on.
const QueueName = "provisioning"

// Retention keeps finished tasks inspectable (and their ids taken, so a
// late duplicate enqueue is refused) for a day.
const Retention = 24 * time.Hour

type requestPayload struct {
	ID string `json:"id"`
}

// Queue implements provisioning.Queue on an Asynq client.
type Queue struct {
	client *hq.Client
}

var _ provisioning.Queue = (*Queue)(nil)

// NewQueue returns a queue on Redis at opt.
func NewQueue(opt hq.RedisClientOpt) *Queue { return &Queue{client: hq.NewClient(opt)} }

// Close closes the Redis connection.
func (q *Queue) Close() error { return q.client.Close() }

// EnqueueRequest schedules r at r.NotBefore with task id "req:<id>"; an
// existing task of that id means it is queued already.
func (q *Queue) EnqueueRequest(ctx context.Context, r provisioning.Request) error {
	b, _ := json.Marshal(requestPayload{ID: r.ID})
	_, err := q.client.EnqueueContext(ctx, hq.NewTask(TypeRequest, b),
		hq.TaskID("req:"+r.ID), hq.Queue(QueueName), hq.ProcessAt(r.NotBefore),
		hq.MaxRetry(10_000), hq.Retention(Retention), hq.Timeout(time.Minute))
	if errors.Is(err, hq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// EnqueueNotice schedules n with task id "notice:<n.ID>".
func (q *Queue) EnqueueNotice(ctx context.Context, n provisioning.Notice) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = q.client.EnqueueContext(ctx, hq.NewTask(TypeNotice, b),
		hq.TaskID("notice:"+n.ID), hq.Queue(QueueName), hq.MaxRetry(12), hq.Retention(Retention), hq.Timeout(time.Minute))
	if errors.Is(err, hq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// Config defaults.
const (
	DefaultPoll     = 100 * time.Millisecond
	DefaultFetchers = 4
)

// Config configures a Worker.
type Config struct {
	Redis       hq.RedisClientOpt
	Service     *provisioning.Service
	Mailer      provisioning.Mailer
	Concurrency int // default 50: tasks mostly wait on the network
	// Poll is how often an idle worker looks for new tasks (Asynq polls
	// rather than blocks). Default 100 ms: Asynq's own 1 s default sleeps
	// 0.5-1.5 s after every moment the queue is empty, which is how long
	// a subscriber's change can wait before it starts.
	Poll     time.Duration
	Log      *slog.Logger
	Registry prometheus.Registerer
	// WaitRetry is when a request that found an earlier request of its
	// line still open tries again, unless that one wakes it first when it
	// finishes (default 1 s).
	WaitRetry time.Duration
	// Fetchers is how many Asynq servers in this process take tasks off
	// the queue side by side, sharing Concurrency (default 4; see NewWorker).
	Fetchers int
	// ShutdownTimeout is how long Shutdown lets running tasks finish
	// (default 10 s); Asynq puts those still running back on the queue,
	// and they run again (requests are idempotent at the network).
	ShutdownTimeout time.Duration
}

// Worker processes provisioning tasks and sends the notice outbox.
type Worker struct {
	cfg  Config
	srvs []*hq.Server
	insp *hq.Inspector           // wakes waiting requests
	rdb  goredis.UniversalClient // their waiters
	m    workerMetrics
	// stop ends the notice sender, which closes done when it has.
	stop, done chan struct{}
}

type workerMetrics struct {
	tasks   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// RetryAfter is an error carrying how long to wait before the next attempt
// (a gateway's Retry-After).
type RetryAfter interface{ RetryAfter() time.Duration }

// NewWorker returns a worker; Start runs it.
func NewWorker(cfg Config) (*Worker, error) {
	if cfg.Service == nil || cfg.Log == nil {
		return nil, errors.New("asynq worker: service and logger are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 50
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.WaitRetry <= 0 {
		cfg.WaitRetry = time.Second
	}
	if cfg.Fetchers <= 0 {
		cfg.Fetchers = DefaultFetchers
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	cfg.Fetchers = min(cfg.Fetchers, cfg.Concurrency)
	w := &Worker{cfg: cfg, insp: hq.NewInspector(cfg.Redis), rdb: cfg.Redis.MakeRedisClient().(goredis.UniversalClient), m: workerMetrics{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simcore_provisioning_tasks_total",
			Help: "Provisioning tasks processed, by type and outcome (done, waiting, retry, failed; woken counts waiting requests run early because the one before them finished); notices sent from the outbox count as type notice.",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "simcore_provisioning_task_duration_seconds",
			Help:    "Time to process one provisioning task, by type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"type"}),
	}}
	if cfg.Registry != nil {
		depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "simcore_provisioning_queue_tasks",
			Help: "Tasks waiting in the provisioning queue (pending, scheduled and retrying); NaN while Redis does not answer.",
		}, func() float64 { return queueDepth(w.insp) })
		for _, c := range []prometheus.Collector{w.m.tasks, w.m.latency, depth} {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register worker metrics: %w", err)
			}
		}
	}
	// Each Asynq server takes tasks one Redis round trip at a time, so one
	// server's throughput is one task per round trip however high its
	// concurrency; Fetchers servers share the concurrency and fetch side
	// by side (Asynq supports several servers on one queue).
	logs := newQuietLog(cfg.Log) // one for all servers: they fail alike
	for i := range cfg.Fetchers {
		per := cfg.Concurrency / cfg.Fetchers
		if i < cfg.Concurrency%cfg.Fetchers {
			per++
		}
		w.srvs = append(w.srvs, hq.NewServer(cfg.Redis, hq.Config{
			Concurrency:       per,
			TaskCheckInterval: cfg.Poll,
			// Retries and scheduled tasks move to the queue this often
			// (Asynq's default is 5 s): a request that waited for an
			// earlier one of its line retries after 1 s.
			DelayedTaskCheckInterval: time.Second,
			Queues:                   map[string]int{QueueName: 1},
			RetryDelayFunc:           retryDelay(cfg.WaitRetry),
			Logger:                   logs,
			LogLevel:                 hq.WarnLevel,
			ShutdownTimeout:          cfg.ShutdownTimeout,
			IsFailure:                func(err error) bool { return !errors.Is(err, provisioning.ErrNotReady) },
		}))
	}
	return w, nil
}

// retryDelay waits wait for a request whose turn has not come (the
// request before it wakes it when it finishes; this is the fallback), the
// gateway's Retry-After when it gave one, and otherwise backs off
// exponentially from 1 s to 5 min. (Asynq rounds delays to whole seconds.)
func retryDelay(wait time.Duration) hq.RetryDelayFunc {
	return func(n int, err error, _ *hq.Task) time.Duration {
		if errors.Is(err, provisioning.ErrNotReady) {
			return wait
		}
		var ra RetryAfter
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			return ra.RetryAfter()
		}
		d := time.Second << min(n, 9)
		return min(d, 5*time.Minute)
	}
}

// Start starts processing tasks and sending the notice outbox; Shutdown
// stops both. A worker starts once.
func (w *Worker) Start() error {
	mux := hq.NewServeMux()
	mux.HandleFunc(TypeRequest, w.handleRequest)
	mux.HandleFunc(TypeNotice, w.handleNotice)
	for i, srv := range w.srvs {
		if err := srv.Start(mux); err != nil {
			for _, started := range w.srvs[:i] {
				started.Shutdown()
			}
			return err
		}
	}
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		w.sendNotices(w.stop)
	}()
	return nil
}

// Shutdown waits for running tasks (up to the server's timeout) and the
// notice batch being sent, and stops.
func (w *Worker) Shutdown() {
	var wg sync.WaitGroup
	for _, srv := range w.srvs {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
	if w.stop != nil {
		close(w.stop)
		<-w.done
		w.stop = nil
	}
	if w.insp != nil {
		_ = w.insp.Close()
		_ = w.rdb.Close()
		w.insp = nil
	}
}

// Sweep re-enqueues, every interval until ctx ends, requests left pending
// or in progress for longer than olderThan (see provisioning.Service.Sweep).
func (w *Worker) Sweep(ctx context.Context, every, olderThan time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := w.cfg.Service.Sweep(ctx, olderThan)
		if err != nil && ctx.Err() == nil {
			w.cfg.Log.Warn("sweep stale provisioning requests", "err", err)
		}
		if n > 0 {
			w.cfg.Log.Info("re-queued stale provisioning requests", "requests", n)
		}
	}
}

func (w *Worker) handleRequest(ctx context.Context, t *hq.Task) error {
	start := time.Now()
	defer func() { w.m.latency.WithLabelValues("request").Observe(time.Since(start).Seconds()) }()
	var p requestPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID == "" {
		w.m.tasks.WithLabelValues("request", "failed").Inc()
		return fmt.Errorf("bad request task payload: %v: %w", err, hq.SkipRetry)
	}
	err := w.cfg.Service.Apply(ctx, p.ID)
	var wait *provisioning.WaitError
	switch {
	case err == nil || errors.Is(err, provisioning.ErrPermanent):
		w.wakeWaiters(ctx, p.ID)
	case errors.As(err, &wait):
		w.noteWaiter(ctx, p.ID, wait.For)
	}
	return w.outcome("request", p.ID, err)
}

// Waking: a request that finds an earlier request of its line open
// retries after WaitRetry, and Asynq moves retries back to the queue only
// every DelayedTaskCheckInterval, so back-to-back changes to one line
// would take seconds each. A waiting request adds itself to the set of
// its blocker's waiters in Redis; when the blocker finishes, its worker
// runs them at once. A finished request costs one SPOP; a wake that is
// missed (the blocker finished between the look and the SADD) leaves the
// waiter to its retry.
const waitersKey = "simcore:provisioning:waiters:"

// noteWaiter records that request id waits for request blocker.
func (w *Worker) noteWaiter(ctx context.Context, id, blocker string) {
	k := waitersKey + blocker
	p := w.rdb.TxPipeline()
	p.SAdd(ctx, k, id)
	p.Expire(ctx, k, time.Hour)
	if _, err := p.Exec(ctx); err != nil {
		w.cfg.Log.Warn("note a waiting provisioning request", "id", id, "waits_for", blocker, "err", err)
	}
}

// wakeWaiters runs the tasks of the requests that waited for request id,
// those still waiting to retry; any other state is left alone.
func (w *Worker) wakeWaiters(ctx context.Context, id string) {
	ids, err := w.rdb.SPopN(ctx, waitersKey+id, 64).Result()
	if err != nil {
		w.cfg.Log.Warn("find the requests waiting for this one", "id", id, "err", err)
		return
	}
	for _, next := range ids {
		info, err := w.insp.GetTaskInfo(QueueName, "req:"+next)
		if err != nil || info.State != hq.TaskStateRetry {
			// Gone (the sweeper queues a lost task), or already
			// pending or running: nothing to wake.
			continue
		}
		if err := w.insp.RunTask(QueueName, "req:"+next); err != nil {
			// It moved on its own since the look.
			w.cfg.Log.Debug("wake waiting request", "id", next, "err", err)
			continue
		}
		w.m.tasks.WithLabelValues("request", "woken").Inc()
	}
}

func (w *Worker) handleNotice(ctx context.Context, t *hq.Task) error {
	start := time.Now()
	defer func() { w.m.latency.WithLabelValues("notice").Observe(time.Since(start).Seconds()) }()
	var n provisioning.Notice
	if err := json.Unmarshal(t.Payload(), &n); err != nil {
		w.m.tasks.WithLabelValues("notice", "failed").Inc()
		return fmt.Errorf("bad notice task payload: %v: %w", err, hq.SkipRetry)
	}
	if n.Channel == "email" && w.cfg.Mailer == nil {
		w.m.tasks.WithLabelValues("notice", "failed").Inc()
		return fmt.Errorf("notice %s: no mailer configured: %w", n.ID, hq.SkipRetry)
	}
	err := w.cfg.Service.SendNotice(ctx, n, w.cfg.Mailer)
	return w.outcome("notice", n.ID, err)
}

func (w *Worker) outcome(typ, id string, err error) error {
	switch {
	case err == nil:
		w.m.tasks.WithLabelValues(typ, "done").Inc()
		return nil
	case errors.Is(err, provisioning.ErrNotReady):
		w.m.tasks.WithLabelValues(typ, "waiting").Inc()
		return err
	case errors.Is(err, provisioning.ErrPermanent), errors.Is(err, provisioning.ErrRequestNotFound):
		w.m.tasks.WithLabelValues(typ, "failed").Inc()
		w.cfg.Log.Warn("provisioning task failed for good", "type", typ, "id", id, "err", err)
		return fmt.Errorf("%w: %w", err, hq.SkipRetry)
	default:
		w.m.tasks.WithLabelValues(typ, "retry").Inc()
		w.cfg.Log.Info("provisioning task will be retried", "type", typ, "id", id, "err", err)
		return err
	}
}

// queueDepth returns the tasks waiting in the provisioning queue: 0 before
// the first task made the queue, NaN when Redis does not answer, so that an
// outage shows as a gap in the graph rather than as an empty queue.
func queueDepth(insp *hq.Inspector) float64 {
	queues, err := insp.Queues()
	if err != nil {
		return math.NaN()
	}
	if !slices.Contains(queues, QueueName) {
		return 0
	}
	qi, err := insp.GetQueueInfo(QueueName)
	if err != nil {
		return math.NaN()
	}
	return float64(qi.Pending + qi.Scheduled + qi.Retry)
}
