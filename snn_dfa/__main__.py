from snn_dfa.cli import main

raise SystemExit(main())
