// Package workers holds the background side of provisioning: the task
// queue (workers/asynq) and the network adapters the tasks drive
// (workers/gateway, workers/smpp, workers/email). This package itself only
// documents the layout; only cmd wires the adapters together.
package workers
