package dev.fathom.engine.backend;

import dev.fathom.engine.EngineException;
import dev.fathom.engine.cpu.CpuBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** The backends known in this process: the built-in CPU ones plus any found by ServiceLoader. */
public final class Backends {
    private final List<Backend> all;

    private Backends(List<Backend> all) { this.all = List.copyOf(all); }

    /** Built-ins and those on the module/class path (e.g. CUDA from the native module). */
    public static Backends discover() {
        List<Backend> l = new ArrayList<>();
        l.add(CpuBackend.reference());
        l.add(CpuBackend.fast());
        try {
            for (Backend b : ServiceLoader.load(Backend.class)) {
                if (l.stream().noneMatch(x -> x.id().equals(b.id()))) l.add(b);
            }
        } catch (java.util.ServiceConfigurationError | LinkageError e) {
            // a backend that cannot even be instantiated is simply absent
        }
        return new Backends(l);
    }

    public static Backends of(List<Backend> backends) { return new Backends(backends); }

    public List<Backend> all() { return all; }

    /** The backend called {@code id}, usable here; a sentence otherwise. */
    public Backend require(String id) {
        for (Backend b : all) {
            if (b.id().equals(id)) {
                String why = b.unavailableReason();
                if (why != null) throw new EngineException("Backend '" + id + "' cannot run here: " + why);
                return b;
            }
        }
        List<String> ids = all.stream().map(Backend::id).toList();
        if (id.equals("cuda"))
            throw new EngineException("Backend 'cuda' is not available in this build: no CUDA backend was found (known: " + String.join(", ", ids) + "); use --backend cpu.");
        throw new EngineException("Unknown backend '" + id + "': use one of " + String.join(", ", ids) + ".");
    }

    public Backend find(String id) {
        return all.stream().filter(b -> b.id().equals(id)).findFirst().orElse(null);
    }
}
