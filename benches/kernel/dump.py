#!/usr/bin/env python3
"""Dump the tree attributes of the anchor forest and the committed models as text for forest_kernel.rs (argv[1]: repository root, with a trailing slash)."""
import onnx, sys
MODES={b'BRANCH_LEQ':0,b'BRANCH_LT':1,b'BRANCH_GTE':2,b'BRANCH_GT':3,b'BRANCH_EQ':4,b'BRANCH_NEQ':5,b'LEAF':-1}
def dump(path, out):
    m=onnx.load(path)
    n=[x for x in m.graph.node if x.op_type.startswith('TreeEnsemble')][0]
    A={a.name:a for a in n.attribute}
    pre='class' if n.op_type.endswith('Classifier') else 'target'
    k=len(A['classlabels_int64s'].ints) if pre=='class' else (A['n_targets'].i if 'n_targets' in A else 1)
    N=len(A['nodes_treeids'].ints)
    nan=A['nodes_missing_value_tracks_true'].ints if 'nodes_missing_value_tracks_true' in A else [0]*N
    with open(out,'w') as f:
        f.write(f"{k} {N} {len(A[pre+'_ids'].ints)}\n")
        for i in range(N):
            f.write(f"{A['nodes_treeids'].ints[i]} {A['nodes_nodeids'].ints[i]} {A['nodes_featureids'].ints[i]} {MODES[A['nodes_modes'].strings[i]]} {A['nodes_values'].floats[i]!r} {A['nodes_truenodeids'].ints[i]} {A['nodes_falsenodeids'].ints[i]} {nan[i]}\n")
        for i in range(len(A[pre+'_ids'].ints)):
            f.write(f"{A[pre+'_treeids'].ints[i]} {A[pre+'_nodeids'].ints[i]} {A[pre+'_ids'].ints[i]} {A[pre+'_weights'].floats[i]!r}\n")
W=sys.argv[1]
dump(W+'benches/models/anchor_rf.onnx','anchor_rf.txt')
# The committed models that are tree ensembles (the anomaly model is a robust distance, not a forest).
for m in ['bloom','quality','yield']: dump(W+f'models/{m}/model.onnx', m+'.txt')
