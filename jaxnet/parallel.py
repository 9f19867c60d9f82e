"""Data-parallel training over a device mesh: the names users need besides ``mesh=``.

``jn.fit``, ``jn.evaluate``, ``jn.train_step`` and ``jn.sweep`` take ``mesh=``; this module
builds meshes and global arrays from each process's share of the data. See
``jaxnet.training.placement`` for what is placed where.
"""

from jaxnet.training.placement import DataParallel, data_parallel, from_process_data, mesh

__all__ = ["DataParallel", "data_parallel", "from_process_data", "mesh"]
