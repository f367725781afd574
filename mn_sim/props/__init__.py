"""Props: the objects tasks put in the scene, one module per kind of object, each built from
simple shapes with SceneBuilder (mn_sim.scene). Conventions: a prop's body origin sits on the
table top (z = 0 is the surface it stands on) at the centre of its footprint, and the side a
robot works from faces -x of the body frame; free objects have their origin at their centre
unless the module says otherwise. Graspable geoms get stiff contacts (mn_sim.props.materials).

    blocks      5 cm cubes, sliding boxes          buttons   spring-loaded push buttons
    brushes     push broom lying flat              bulbs     light bulbs on coloured stands
    cupboard    open cabinet on a stand            cups      nesting tapered cups
    dirt        crumbs that slide when swept       lamps     lamp with a screw-in socket
    drawers     chest of three drawers             dustpans  tall and short, ramped mouth
    grill       barbecue with a grate              groceries nine boxes, cans and a bottle
    jars        jar and screw-cap lid              mugs      mugs with handles, mug tree
    pegs        three square spokes, square ring   safe      three-shelf safe with a door
    shapes      cube, cylinder, prism, star, moon  shape_sorter  box with a hole per shape
    targets     flat coloured squares              taps      mixer tap with two levers
    wine        wine bottle, three-slot rack
"""
