package dev.fathom.profiles.export;

import dev.fathom.profiles.HardwareProfile;
import dev.fathom.profiles.ProfileException;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Where the ranks of an export go: {@code world} GPUs filled host by host, {@code gpusPerNode} each.
 *
 * @param world        ranks (GPUs) one launch uses
 * @param gpusPerNode  GPUs per host
 * @param hosts        the hosts the ranks need, in order
 */
record Layout(int world, int gpusPerNode, List<String> hosts) {

    static Layout of(int world, HardwareProfile hw, ExportOptions opts, Consumer<String> warn) {
        int perNode;
        if (opts.gpusPerNode() > 0) {
            perNode = opts.gpusPerNode();
        } else if ("gpu".equals(hw.deviceKind())) {
            perNode = hw.devices();
        } else {
            perNode = world;
            warn.accept("The hardware profile '" + hw.name() + "' describes a CPU, so the hostfile assumes one host with "
                    + world + " GPU" + (world == 1 ? "" : "s") + "; set gpusPerNode in the export options to match your cluster.");
        }
        int nodes = (world + perNode - 1) / perNode;
        List<String> hosts = new ArrayList<>();
        if (!opts.hosts().isEmpty()) {
            if (opts.hosts().size() < nodes) {
                throw new ProfileException(null, null, "The export needs " + nodes + " hosts of " + perNode
                        + " GPUs for " + world + " ranks, but only " + opts.hosts().size() + " host names were given.");
            }
            hosts.addAll(opts.hosts().subList(0, nodes));
        } else if (nodes == 1) {
            hosts.add("localhost");
        } else {
            for (int i = 1; i <= nodes; i++) hosts.add("node" + i);
            warn.accept("The hostfile names placeholder hosts node1 to node" + nodes
                    + "; replace them with your cluster's host names (or pass hosts in the export options).");
        }
        return new Layout(world, perNode, List.copyOf(hosts));
    }

    int nodes() { return hosts.size(); }

    /** True when every host runs the same number of ranks, so {@code --num_nodes/--num_gpus} say it exactly. */
    boolean uniform() { return world <= gpusPerNode || world % gpusPerNode == 0; }

    /** GPUs used per host when {@link #uniform()}. */
    int gpusUsedPerNode() { return Math.min(world, gpusPerNode); }

    /** The {@code --include} value for ranks {@code [first, first + count)}, e.g. {@code node1:0,1@node2:0,1}. */
    String include(int first, int count) {
        StringBuilder sb = new StringBuilder();
        int host = -1;
        for (int r = first; r < first + count; r++) {
            int h = r / gpusPerNode;
            int slot = r % gpusPerNode;
            if (h != host) {
                if (host >= 0) sb.append('@');
                sb.append(hosts.get(h)).append(':');
                host = h;
            } else {
                sb.append(',');
            }
            sb.append(slot);
        }
        return sb.toString();
    }

    /** The hostfile: one {@code host slots=N} line per host. */
    String hostfile() {
        StringBuilder sb = new StringBuilder();
        for (String h : hosts) sb.append(h).append(" slots=").append(gpusPerNode).append('\n');
        return sb.toString();
    }
}
