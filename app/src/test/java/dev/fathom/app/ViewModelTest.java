package dev.fathom.app;

import dev.fathom.app.support.AppSettings;
import dev.fathom.app.support.CodecProfileStore;
import dev.fathom.app.support.SameThreadExecutor;
import dev.fathom.app.support.ThisMachine;
import dev.fathom.app.vm.ModelViewModel;
import dev.fathom.app.vm.PlanViewModel;
import dev.fathom.app.vm.RunViewModel;
import dev.fathom.engine.Engine;
import dev.fathom.engine.EngineException;
import dev.fathom.profiles.RunProfile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The view models without a window: the same-thread executor runs loads and generations inline. */
class ViewModelTest {
    @Test
    void loadPlanAndRunInline() {
        SameThreadExecutor ex = new SameThreadExecutor();
        Engine engine = Engine.discover();
        ModelViewModel models = new ModelViewModel(ex);
        List<String> errors = new ArrayList<>();
        models.setOnError(errors::add);
        models.load("synthetic:llama-tiny");
        assertTrue(errors.isEmpty(), errors.toString());
        assertEquals(4, models.layers().size());
        assertTrue(models.facts().stream().anyMatch(f -> f.value().contains("random weights")));

        PlanViewModel plan = new PlanViewModel(engine, ThisMachine.profile());
        plan.modelProperty().bind(models.modelProperty());
        assertEquals("", plan.errorProperty().get());
        plan.newTokensProperty().set(3000);
        assertTrue(plan.errorProperty().get().contains("2048 positions"), plan.errorProperty().get());
        assertEquals("length", plan.errorFieldProperty().get());
        plan.newTokensProperty().set(5);
        plan.tpProperty().set(0);
        assertTrue(plan.errorProperty().get().startsWith("Parallel degrees must be 1 or more"), plan.errorProperty().get());
        assertEquals("parallel", plan.errorFieldProperty().get());
        plan.tpProperty().set(1);
        assertFalse(plan.memory().isEmpty());
        // weights + KV of the plan sit in the device tier row
        long held = plan.memory().getFirst().used();
        assertEquals(plan.planProperty().get().weightBytes() + plan.planProperty().get().kvBytes(), held);

        RunViewModel run = new RunViewModel(ex, engine, models, plan);
        run.setOnError(errors::add);
        run.promptProperty().set("3, 4, 5");
        run.promptIsIdsProperty().set(true);
        run.run();
        assertTrue(errors.isEmpty(), errors.toString());
        assertEquals(1, run.runs().size());
        var rec = run.runs().getFirst();
        assertEquals("finished", rec.outcome());
        assertEquals(5, rec.figures().generated());
        assertEquals(3, rec.profile().promptLen(), "the typed prompt's length is planned");
        assertFalse(rec.kernels().isEmpty());
        assertTrue(run.telemetryProperty().get().tokens() >= 5);

        run.promptProperty().set("3, x");
        run.run();
        assertEquals("Prompt ids: 'x' is not an integer token id; separate ids by commas or spaces.", errors.getLast());
    }

    @Test
    void profilesAndSettingsRoundTrip(@TempDir Path dir) throws Exception {
        CodecProfileStore store = new CodecProfileStore();
        RunProfile p = RunProfile.defaults().withShape(3, 20, 40)
                .withParallel(new RunProfile.Parallelism(2, 2, 1, 1, 4, 2, "pcc"))
                .withPlacement(new RunProfile.Placement(RunProfile.Tier.NVME, RunProfile.Tier.HOST, "/tmp/x", 2, 1L << 30, 0, 0));
        Path f = dir.resolve("p.json");
        store.save(f, p);
        assertEquals(p, store.load(f));
        Files.writeString(f, "[]");
        EngineException e = assertThrows(EngineException.class, () -> store.load(f));
        assertTrue(e.getMessage().contains("p.json"), e.getMessage());

        String old = System.getProperty("fathom.config.dir");
        System.setProperty("fathom.config.dir", dir.resolve("cfg").toString());
        try {
            AppSettings s = AppSettings.defaults().withGeometry(10, 20, 1000, 700, false).withRecent("a").withRecent("b").withRecent("a");
            s.save();
            AppSettings back = AppSettings.load();
            assertEquals(List.of("a", "b"), back.recent());
            assertEquals(1000, back.width());
            assertEquals(20, back.y());
        } finally {
            if (old == null) System.clearProperty("fathom.config.dir");
            else System.setProperty("fathom.config.dir", old);
        }
    }
}
