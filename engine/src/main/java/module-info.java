/** The inference engine: checkpoints, tokenizer, model families, backends, planning, runs, telemetry. */
module dev.fathom.engine {
    requires transitive dev.fathom.profiles;
    requires com.fasterxml.jackson.databind;
    requires jdk.incubator.vector;
    requires ai.djl.tokenizers;
    requires jdk.unsupported; // com.sun.nio.file.ExtendedOpenOption.DIRECT: calibrate's disk test, O_DIRECT reads of NVMe-tier weights

    exports dev.fathom.engine;
    exports dev.fathom.engine.backend;
    exports dev.fathom.engine.calibrate;
    exports dev.fathom.engine.checkpoint;
    exports dev.fathom.engine.cpu;
    exports dev.fathom.engine.model;
    exports dev.fathom.engine.model.families;
    exports dev.fathom.engine.offload;
    exports dev.fathom.engine.parallel;
    exports dev.fathom.engine.plan;
    exports dev.fathom.engine.run;
    exports dev.fathom.engine.synthetic;
    exports dev.fathom.engine.telemetry;
    exports dev.fathom.engine.tensor;
    exports dev.fathom.engine.tokenizer;
    exports dev.fathom.engine.util;

    uses dev.fathom.engine.backend.Backend;
}
