package dev.fathom.engine.parallel;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.telemetry.TelemetryEvent;
import dev.fathom.engine.telemetry.TelemetryEvent.Phase;
import dev.fathom.engine.telemetry.TelemetrySink;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Function;

/**
 * Pipeline stages run by one worker thread each, fed by micro-batch queues. A submitted micro-batch
 * enters stage 0's queue; each stage passes its output to the next stage's queue; the last stage's
 * output comes back as a {@link Completion} on the queue of the run that submitted it. Every stage
 * execution is recorded as a {@link TelemetryEvent.StageSpan}.
 *
 * <p>Two drivers: {@link #runLockstep} (every step waits for all its micro-batches: the naive per-token
 * schedule, bubbles paid every step) and {@link #runContinuous} (the paper's Fig. 2: a micro-batch is
 * queued again the moment it leaves the last stage, so with at least P micro-batches in flight the
 * pipeline fills once per generation).
 */
public final class PipelineScheduler implements AutoCloseable {
    /** The work of the stages. */
    public interface Stage {
        /** Runs stage {@code stage} on {@code work}; {@code input} is the previous stage's output (or the submitted input). */
        Object run(int stage, Work work, Object input) throws Exception;

        /** {@code work} was queued for {@code stage} (e.g. start fetching its KV cache). */
        default void arriving(int stage, Work work) { }

        /** {@code work} finished {@code stage} (e.g. offload its KV cache). */
        default void left(int stage, Work work) { }
    }

    /** One micro-batch: its id, the sequences it carries, the phase, and what the stages need (opaque here). */
    public record Work(int microBatch, int[] sequences, Phase phase, Object payload) {}

    /** A micro-batch to start with its stage-0 input. */
    public record Submission(Work work, Object input) {}

    /** A micro-batch that left the last stage, with the last stage's output, or the error a stage threw. */
    public record Completion(Work work, Object output, Throwable error) {}

    private record Task(Work work, Object input, BlockingQueue<Completion> done) {}

    private static final Task STOP = new Task(null, null, null);

    private final int stages;
    private final Stage stage;
    private final int[] stageRanks;
    private final TelemetrySink sink;
    private final List<LinkedBlockingQueue<Task>> queues = new ArrayList<>();
    private final List<Thread> workers = new ArrayList<>();

    /**
     * @param stageRanks global rank shown for each stage in telemetry (its first rank)
     */
    public PipelineScheduler(int stages, Stage stage, int[] stageRanks, TelemetrySink sink) {
        this.stages = stages;
        this.stage = stage;
        this.stageRanks = stageRanks.clone();
        this.sink = sink;
        for (int s = 0; s < stages; s++) queues.add(new LinkedBlockingQueue<>());
        for (int s = 0; s < stages; s++) {
            int si = s;
            Thread t = Thread.ofPlatform().daemon().name("fathom-stage-" + s).start(() -> work(si));
            workers.add(t);
        }
    }

    public int stages() { return stages; }

    private void work(int s) {
        LinkedBlockingQueue<Task> q = queues.get(s);
        while (true) {
            Task t;
            try {
                t = q.take();
            } catch (InterruptedException e) {
                return;
            }
            if (t == STOP) return;
            Object out;
            long t0 = System.nanoTime();
            try {
                out = stage.run(s, t.work, t.input);
            } catch (Throwable e) {
                t.done.add(new Completion(t.work, null, e));
                continue;
            }
            long dur = System.nanoTime() - t0;
            if (sink.enabled())
                sink.emit(new TelemetryEvent.StageSpan(s, stageRanks[s], t.work.microBatch(), t.work.sequences(), t.work.phase(), t0, dur));
            try {
                stage.left(s, t.work);
                if (s + 1 < stages) {
                    stage.arriving(s + 1, t.work);
                    queues.get(s + 1).add(new Task(t.work, out, t.done));
                } else {
                    t.done.add(new Completion(t.work, out, null));
                }
            } catch (Throwable e) {
                t.done.add(new Completion(t.work, null, e));
            }
        }
    }

    private void submit(Submission s, BlockingQueue<Completion> done) {
        stage.arriving(0, s.work());
        queues.getFirst().add(new Task(s.work(), s.input(), done));
    }

    private static Completion take(BlockingQueue<Completion> done) {
        Completion c;
        try {
            c = done.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted while waiting for the pipeline");
        }
        if (c.error() != null) {
            Throwable e = c.error();
            if (e instanceof RuntimeException re) throw re;
            if (e instanceof Error er) throw er;
            throw new EngineException("Pipeline stage failed: " + e, e);
        }
        return c;
    }

    /** Runs the micro-batches once through all stages; outputs in submission order. */
    public Object[] runAll(List<Submission> subs) {
        Object[] out = new Object[subs.size()];
        runLockstep(subs, c -> null, (i, c) -> out[i] = c.output());
        return out;
    }

    /** Receives the outputs of one lockstep round by submission index. */
    public interface RoundOutput { void accept(int index, Completion c); }

    /**
     * Naive schedule: submits a round, waits for all of it, then asks {@code next} for each completion's
     * follow-up (null = that micro-batch is finished) and runs those as the next round.
     */
    public void runLockstep(List<Submission> subs, Function<Completion, Submission> next, RoundOutput firstRound) {
        BlockingQueue<Completion> done = new LinkedBlockingQueue<>();
        List<Submission> round = subs;
        boolean first = true;
        while (!round.isEmpty()) {
            for (Submission s : round) submit(s, done);
            Completion[] got = new Completion[round.size()];
            for (int i = 0; i < round.size(); i++) {
                Completion c = take(done);
                got[indexOf(round, c.work())] = c;
            }
            List<Submission> nextRound = new ArrayList<>();
            for (int i = 0; i < got.length; i++) {
                if (first && firstRound != null) firstRound.accept(i, got[i]);
                Submission n = next.apply(got[i]);
                if (n != null) nextRound.add(n);
            }
            first = false;
            round = nextRound;
        }
    }

    private static int indexOf(List<Submission> round, Work w) {
        for (int i = 0; i < round.size(); i++) if (round.get(i).work() == w) return i;
        throw new IllegalStateException("completion of a micro-batch not in this round");
    }

    /**
     * The paper's generation schedule: all micro-batches start; whenever one leaves the last stage,
     * {@code next} turns its output into the micro-batch's next step (queued at once) or null when it is
     * finished. Returns when every micro-batch has finished. If {@code next} throws, the micro-batches
     * still in flight are drained first.
     */
    public void runContinuous(List<Submission> subs, Function<Completion, Submission> next) {
        BlockingQueue<Completion> done = new LinkedBlockingQueue<>();
        for (Submission s : subs) submit(s, done);
        int inFlight = subs.size();
        RuntimeException failure = null;
        while (inFlight > 0) {
            Completion c;
            try {
                c = take(done);
            } catch (RuntimeException e) {
                inFlight--;
                if (failure == null) failure = e;
                continue;
            }
            Submission n = null;
            if (failure == null) {
                try {
                    n = next.apply(c);
                } catch (RuntimeException e) {
                    failure = e;
                }
            }
            if (n != null) submit(n, done);
            else inFlight--;
        }
        if (failure != null) throw failure;
    }

    @Override
    public void close() {
        for (LinkedBlockingQueue<Task> q : queues) q.add(STOP);
        for (Thread t : workers) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
