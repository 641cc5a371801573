/* vclock_core.c - pure arithmetic of the simulated node clock and the
 * emulation of the kernel's adjtimex() on it (see vclock_state.h). No I/O:
 * the caller passes the real time. The only side effects are on the state. */
#include "vclock_state.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <string.h>

#define NS_PER_S 1000000000LL

void vclock_core_init(struct vclock_state *st, int64_t real_now_ns, int64_t offset_ns,
		      double drift_ppm, double wander_ppm)
{
	memset(st, 0, sizeof(*st));
	st->magic = VCLOCK_STATE_MAGIC;
	st->version = VCLOCK_STATE_VERSION;
	st->size = sizeof(*st);
	st->anchor_real_ns = real_now_ns;
	st->anchor_virt_ns = real_now_ns + offset_ns;
	st->drift_ppm = drift_ppm;
	st->wander_ppm = wander_ppm;
	st->tick_us = VCLOCK_TICK_NOMINAL;
	st->constant = 2;
	st->maxerror_us = VCLOCK_PHASE_LIMIT_US;
	st->maxerror_real_ns = real_now_ns;
	st->esterror_us = VCLOCK_PHASE_LIMIT_US;
	st->status = STA_UNSYNC;
	st->created_real_ns = real_now_ns;
	st->raw_anchor_real_ns = real_now_ns;
	st->raw_anchor_virt_ns = real_now_ns;
	st->rate_m1 = vclock_core_rate_m1(drift_ppm, st->tick_us, st->freq);
}

int vclock_core_validate(const struct vclock_state *st)
{
	if (st->magic != VCLOCK_STATE_MAGIC || st->version != VCLOCK_STATE_VERSION ||
	    st->size != sizeof(*st))
		return -EINVAL;
	return 0;
}

double vclock_core_rate_m1(double drift_ppm, int64_t tick_us, int64_t freq)
{
	/* Keep the small terms apart: 1 + x computed as x alone. */
	double a = (double)(tick_us * VCLOCK_HZ - 1000000) / 1e6 + (double)freq / 65536e6;
	double d = drift_ppm * 1e-6;

	return a + d + a * d;
}

int64_t vclock_core_virt(const struct vclock_snap *s, int64_t real_ns)
{
	int64_t dr = real_ns - s->anchor_real_ns;

	return s->anchor_virt_ns + dr + llround((double)dr * s->rate_m1);
}

int64_t vclock_core_raw(const struct vclock_snap *s, int64_t real_ns)
{
	int64_t dr = real_ns - s->raw_anchor_real_ns;

	return s->raw_anchor_virt_ns + dr + llround((double)dr * s->drift_ppm * 1e-6);
}

int64_t vclock_core_real(const struct vclock_snap *s, int64_t virt_ns)
{
	int64_t dv = virt_ns - s->anchor_virt_ns;

	/* dv / (1 + r) = dv - dv * r / (1 + r) */
	return s->anchor_real_ns + dv - llround((double)dv * s->rate_m1 / (1.0 + s->rate_m1));
}

void vclock_core_snap(const struct vclock_state *st, struct vclock_snap *s)
{
	for (int i = 0; i < 100000; i++) {
		uint32_t s1 = __atomic_load_n(&st->seq, __ATOMIC_ACQUIRE);

		if (s1 & 1)
			continue;
		s->anchor_real_ns = __atomic_load_n(&st->anchor_real_ns, __ATOMIC_RELAXED);
		s->anchor_virt_ns = __atomic_load_n(&st->anchor_virt_ns, __ATOMIC_RELAXED);
		s->rate_m1 = st->rate_m1;
		s->step_gen = __atomic_load_n(&st->step_gen, __ATOMIC_RELAXED);
		s->raw_anchor_real_ns = __atomic_load_n(&st->raw_anchor_real_ns, __ATOMIC_RELAXED);
		s->raw_anchor_virt_ns = __atomic_load_n(&st->raw_anchor_virt_ns, __ATOMIC_RELAXED);
		s->drift_ppm = st->drift_ppm;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&st->seq, __ATOMIC_RELAXED) == s1)
			return;
	}
	/* A writer died in the middle (never seen): use what is there. */
	s->anchor_real_ns = st->anchor_real_ns;
	s->anchor_virt_ns = st->anchor_virt_ns;
	s->rate_m1 = st->rate_m1;
	s->step_gen = st->step_gen;
	s->raw_anchor_real_ns = st->raw_anchor_real_ns;
	s->raw_anchor_virt_ns = st->raw_anchor_virt_ns;
	s->drift_ppm = st->drift_ppm;
}

void vclock_core_lock(struct vclock_state *st, uint32_t pid)
{
	for (int i = 0; i < 200000; i++) {
		uint32_t expected = 0;

		if (__atomic_compare_exchange_n(&st->lock, &expected, pid, 0, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			goto locked;
		if (i > 100)
			sched_yield();
	}
	/* Held for far longer than any update takes: the holder died. */
	__atomic_store_n(&st->lock, pid, __ATOMIC_SEQ_CST);
	if (st->seq & 1)
		__atomic_add_fetch(&st->seq, 1, __ATOMIC_SEQ_CST);
locked:
	__atomic_add_fetch(&st->seq, 1, __ATOMIC_SEQ_CST);
}

void vclock_core_unlock(struct vclock_state *st)
{
	__atomic_add_fetch(&st->seq, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&st->lock, 0, __ATOMIC_RELEASE);
}

void vclock_core_reanchor(struct vclock_state *st, int64_t real_now_ns)
{
	struct vclock_snap s = { .anchor_real_ns = st->anchor_real_ns, .anchor_virt_ns = st->anchor_virt_ns,
				 .rate_m1 = st->rate_m1 };

	st->anchor_virt_ns = vclock_core_virt(&s, real_now_ns);
	st->anchor_real_ns = real_now_ns;
}

static void update_rate(struct vclock_state *st, int64_t real_now_ns)
{
	vclock_core_reanchor(st, real_now_ns);
	st->rate_m1 = vclock_core_rate_m1(st->drift_ppm, st->tick_us, st->freq);
}

void vclock_core_step(struct vclock_state *st, int64_t real_now_ns, int64_t delta_ns)
{
	vclock_core_reanchor(st, real_now_ns);
	st->anchor_virt_ns += delta_ns;
	/* What the kernel's ntp_clear() does on a clock set. */
	st->status |= STA_UNSYNC;
	st->maxerror_us = VCLOCK_PHASE_LIMIT_US;
	st->maxerror_real_ns = real_now_ns;
	st->esterror_us = VCLOCK_PHASE_LIMIT_US;
	st->offset = 0;
	st->n_steps++;
	__atomic_add_fetch(&st->step_gen, 1, __ATOMIC_SEQ_CST);
}

void vclock_core_set_drift(struct vclock_state *st, int64_t real_now_ns, double drift_ppm)
{
	struct vclock_snap s = { .raw_anchor_real_ns = st->raw_anchor_real_ns,
				 .raw_anchor_virt_ns = st->raw_anchor_virt_ns, .drift_ppm = st->drift_ppm };

	/* the oscillator's time stays continuous */
	st->raw_anchor_virt_ns = vclock_core_raw(&s, real_now_ns);
	st->raw_anchor_real_ns = real_now_ns;
	st->drift_ppm = drift_ppm;
	update_rate(st, real_now_ns);
}

/* maxerror as the kernel would report it: +500 us per elapsed second. */
static int64_t current_maxerror(struct vclock_state *st, int64_t real_now_ns)
{
	int64_t secs = (real_now_ns - st->maxerror_real_ns) / NS_PER_S;
	int64_t m = st->maxerror_us;

	if (secs > 0)
		m += secs * VCLOCK_MAXERROR_GROWTH_US;
	if (m >= VCLOCK_PHASE_LIMIT_US) {
		m = VCLOCK_PHASE_LIMIT_US;
		st->status |= STA_UNSYNC;
	}
	return m;
}

static int validate_timex(const struct timex *tx)
{
	if (tx->modes & VCLOCK_ADJ_ADJTIME)
		return 0;
	if ((tx->modes & ADJ_TICK) && (tx->tick < VCLOCK_TICK_MIN || tx->tick > VCLOCK_TICK_MAX))
		return -EINVAL;
	if (tx->modes & ADJ_SETOFFSET) {
		long lim = (tx->modes & ADJ_NANO) ? 1000000000L : 1000000L;

		if (tx->time.tv_usec < 0 || tx->time.tv_usec >= lim)
			return -EINVAL;
	}
	return 0;
}

static void apply_status(struct vclock_state *st, int status)
{
	/* Leaving PLL mode resets the status like the kernel does. */
	if ((st->status & STA_PLL) && !(status & STA_PLL))
		st->status = STA_UNSYNC;
	st->status &= STA_RONLY;
	st->status |= status & ~STA_RONLY;
}

static void apply_modes(struct vclock_state *st, int64_t now, const struct timex *tx)
{
	unsigned int m = tx->modes;

	if (m & ADJ_STATUS)
		apply_status(st, tx->status);
	if (m & ADJ_NANO)
		st->status |= STA_NANO;
	if (m & ADJ_MICRO)
		st->status &= ~STA_NANO;
	if (m & ADJ_FREQUENCY) {
		int64_t f = tx->freq;

		st->freq = f > VCLOCK_MAXFREQ_SCALED ? VCLOCK_MAXFREQ_SCALED :
			   f < -VCLOCK_MAXFREQ_SCALED ? -VCLOCK_MAXFREQ_SCALED : f;
	}
	if (m & ADJ_MAXERROR) {
		st->maxerror_us = tx->maxerror;
		st->maxerror_real_ns = now;
	}
	if (m & ADJ_ESTERROR)
		st->esterror_us = tx->esterror;
	if (m & ADJ_TIMECONST)
		st->constant = tx->constant;
	if (m & ADJ_TAI)
		st->tai = (int32_t)tx->constant;
	if (m & ADJ_OFFSET)
		st->offset = tx->offset;
	if (m & ADJ_TICK)
		st->tick_us = tx->tick;
	if (m & (ADJ_FREQUENCY | ADJ_TICK)) {
		update_rate(st, now);
		st->n_adjust++;
	}
}

static void read_back(struct vclock_state *st, int64_t now, struct timex *tx)
{
	struct vclock_snap s = { .anchor_real_ns = st->anchor_real_ns, .anchor_virt_ns = st->anchor_virt_ns,
				 .rate_m1 = st->rate_m1 };
	int64_t v = vclock_core_virt(&s, now);
	int64_t sec = v >= 0 ? v / NS_PER_S : -((-v + NS_PER_S - 1) / NS_PER_S);
	int64_t nsec = v - sec * NS_PER_S;

	tx->freq = st->freq;
	tx->maxerror = current_maxerror(st, now);
	tx->esterror = st->esterror_us;
	tx->status = st->status;
	tx->constant = st->constant;
	tx->precision = 1;
	tx->tolerance = VCLOCK_MAXFREQ_SCALED;
	tx->tick = st->tick_us;
	tx->tai = st->tai;
	tx->time.tv_sec = sec;
	tx->time.tv_usec = (st->status & STA_NANO) ? nsec : nsec / 1000;
	tx->offset = (st->status & STA_NANO) ? st->offset : st->offset / 1000;
}

int vclock_core_adjtimex(struct vclock_state *st, int64_t real_now_ns, struct timex *tx)
{
	int r = validate_timex(tx);

	if (r < 0)
		return r;
	st->n_adjtimex++;
	if (tx->modes & VCLOCK_ADJ_ADJTIME) {
		/* adjtime() emulation: only cancelling/reading is supported
		 * (chronyd cancels at start); nothing is ever pending. */
		if (!(tx->modes & VCLOCK_ADJ_OFFSET_READONLY) && tx->offset != 0)
			return -EOPNOTSUPP;
		read_back(st, real_now_ns, tx);
		tx->offset = 0;
	} else {
		if (tx->modes & ADJ_SETOFFSET) {
			int64_t ns = (tx->modes & ADJ_NANO) ? tx->time.tv_usec : tx->time.tv_usec * 1000;

			vclock_core_step(st, real_now_ns, (int64_t)tx->time.tv_sec * NS_PER_S + ns);
		}
		apply_modes(st, real_now_ns, tx);
		read_back(st, real_now_ns, tx);
	}
	if (st->status & (STA_UNSYNC | STA_CLOCKERR))
		return TIME_ERROR;
	if (st->status & STA_INS)
		return TIME_INS;
	if (st->status & STA_DEL)
		return TIME_DEL;
	return TIME_OK;
}
