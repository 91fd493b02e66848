package email_test

import (
	"testing"

	"github.com/simcore/simcore/netsim/mailsink"
	"github.com/simcore/simcore/provisioning"
	"github.com/simcore/simcore/workers/email"
)

// BenchmarkSendEmail sends a Hebrew notification to a mail sink over
// 127.0.0.1: one SMTP connection per message, as in production.
//
//	go test -run '^$' -bench SendEmail -benchtime 3s ./workers/email/
func BenchmarkSendEmail(b *testing.B) {
	sink := startSink(b, mailsink.Config{MaxMessages: 1000})
	m, _ := newMailer(b, email.Config{Addr: sink.Addr()})
	e := provisioning.Email{
		To:      "bench@example.com",
		Subject: "החלפת כרטיס ה-SIM הושלמה",
		Text:    "שלום,\n\nהמספר 447700900123 פעיל עכשיו בכרטיס ה-SIM החדש שלך, שמספרו מסתיים ב-0752.\n",
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := m.SendEmail(b.Context(), e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // 4 × GOMAXPROCS senders
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := m.SendEmail(b.Context(), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
	})
}
